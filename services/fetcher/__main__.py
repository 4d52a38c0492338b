"""``python -m services.fetcher``: run the fetcher service (``service.main``); nothing else happens here."""

from services.fetcher.service import main

main()
