from services.cleaner.service import main

main()
