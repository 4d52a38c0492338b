"""The ``newsflow`` command: push, tail, dlq, search, story, clean, extract, topics, status. Each command lives
in the module named after it (clean and extract: batch.py; reader.py: the options of the commands that read a
topic); services/cli/main.py assembles them. No command imports a service's faust wiring."""
