"""Key order: messages with the same key are processed one after another, in the order they were taken.

Every message is keyed by its article id, so this keeps one article's messages (a re-push, a replay) in order
while different articles run concurrently. A message waits only for the *previous* message of its key:

    turn = order.turn(key)          # at take time, in offset order: claims the key's next turn
    ...
    async with turn:                # waits until the previous holder of ``key`` has left its turn
        ...process, produce, wait for the broker's acknowledgement...

Turns are granted in the order ``turn`` was *called* (synchronously, at take time), not in the order the
waiting tasks happen to run. Keys with nobody waiting are dropped, so the table holds only keys in flight.
It only orders: it never limits how many keys run at once (services.runtime.flow's slots do).
"""

from __future__ import annotations

import asyncio
from typing import Hashable


class KeyOrder:
    """The turns of each key in flight: hands out :class:`Turn` objects in the order they are claimed. Holds only
    keys with a message in flight; it never runs or reorders the work itself."""

    def __init__(self) -> None:
        self._tails: dict[Hashable, asyncio.Future] = {}

    def __len__(self) -> int:
        return len(self._tails)

    def turn(self, key: Hashable | None) -> Turn:
        """Claim ``key``'s next turn now (synchronously); ``async with`` the result waits for it."""
        previous = None if key is None else self._tails.get(key)
        mine = asyncio.get_running_loop().create_future()
        if key is not None:
            self._tails[key] = mine
        return Turn(self, key, previous, mine)

    def _release(self, key: Hashable | None, mine: asyncio.Future) -> None:
        if not mine.done():
            mine.set_result(None)
        if key is not None and self._tails.get(key) is mine:
            del self._tails[key]


class Turn:
    """One message's turn on its key: ``async with`` it waits for the key's previous turn, and leaving it lets
    the next one in (also when the work failed). Use it once."""

    def __init__(self, order: KeyOrder, key: Hashable | None, previous: asyncio.Future | None,
                 mine: asyncio.Future):
        self._order, self._key, self._previous, self._mine = order, key, previous, mine

    async def __aenter__(self) -> None:
        if self._previous is not None:
            try:
                await asyncio.shield(self._previous)
            except BaseException:
                self._order._release(self._key, self._mine)
                raise

    async def __aexit__(self, *exc) -> None:
        self._order._release(self._key, self._mine)
