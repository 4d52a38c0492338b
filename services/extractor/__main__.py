"""``python -m services.extractor``: run the extractor service (``service.main``); nothing else happens here."""

from services.extractor.service import main

main()
