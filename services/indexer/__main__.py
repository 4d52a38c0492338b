"""``python -m services.indexer``: run the indexer service (``service.main``); nothing else happens here."""

from services.indexer.service import main

main()
