from services.extractor.service import main

main()
