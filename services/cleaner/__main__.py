"""``python -m services.cleaner``: run the cleaner service (``service.main``); nothing else happens here."""

from services.cleaner.service import main

main()
