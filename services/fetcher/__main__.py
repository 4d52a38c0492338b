from services.fetcher.service import main

main()
