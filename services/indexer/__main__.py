from services.indexer.service import main

main()
