"""Keys typed in a quick run go where the keys before them left the focus.

Textual (8.x, ``App.on_event``) routes each key the moment the app reads it: to the widget focused
*then*, through that widget's own message queue. A key's non-priority binding (Tab's ``focus_next``,
a screen's key that opens a modal) runs only later, once the key has bubbled from that widget back to
the app. So keys read together (the browser seat sends each key as its own websocket message, and a
burst of them reaches the app in one read; a fast typist in a terminal can do it too) are all routed
before the first has moved the focus: after Tab, the next letters still land in the widget Tab left,
and Space after Tab goes to the text area instead of the checkbox Tab reached.

:class:`KeysInOrder` routes one key (or paste) at a time: one read while another is still on its way
is held, and routed once that one has been handled (stopped by a widget, or through the app's
bindings), to the focus as it then is. A key that never reports back (its widget removed meanwhile)
holds the next ones for ``PATIENCE`` seconds at most.
"""

from __future__ import annotations

import time
from collections import deque
from functools import partial

from textual import events
from textual.app import App, ReturnType
from textual.message import Message
from textual.message_pump import MessagePump
from textual.timer import Timer

#: What a person types: a paste is held behind the keys typed before it, as they are.
TYPED = (events.Key, events.Paste)
#: Seconds a held key waits for the key before it to be handled, before it is routed anyway.
PATIENCE = 0.5


class KeysInOrder(App[ReturnType]):
    """An App whose keys are routed one after the other (module docstring)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._keys_held: deque[events.Key | events.Paste] = deque()
        #: The key routed and not yet handled, the nodes it may still go through, and when it left.
        self._key_out: events.Key | events.Paste | None = None
        self._key_path: list[MessagePump] = []
        self._key_sent = 0.0
        self._key_timer: Timer | None = None

    async def on_event(self, event: events.Event) -> None:
        if not isinstance(event, TYPED):
            await super().on_event(event)
        elif not event.is_forwarded:  # read from the terminal: routed in turn
            self._keys_held.append(event)
            await self._route_keys()
        else:  # bubbled back from the focused widget: the app's own bindings run it
            await super().on_event(event)
            if event is self._key_out:
                self._key_handled()

    async def _route_keys(self) -> None:
        if self._key_out is not None and time.monotonic() - self._key_sent > PATIENCE:
            self._key_handled()  # it never reported back
        while self._keys_held and self._key_out is None:
            key = self._keys_held.popleft()
            target = self.focused or self.screen
            await super().on_event(key)  # Textual's routing: a priority binding, or to ``target``
            if not key.is_forwarded:
                continue  # a priority binding ran it: handled
            self._key_out, self._key_sent = key, time.monotonic()
            self._key_path = [node for node in target.ancestors_with_self if node is not self]
            for node in self._key_path:
                node.message_signal.subscribe(self, partial(self._key_went_through, node), immediate=True)
        if self._keys_held and self._key_timer is None:
            self._key_timer = self.set_timer(PATIENCE, self._key_patience)

    def _key_went_through(self, node: MessagePump, message: Message) -> None:
        """``node``, on the key's path, has handled ``message`` (in its own task). The routed key's
        journey ends there unless it bubbled on to ``node``'s parent."""
        if message is not self._key_out:
            return
        if node._parent is self:
            # Whether the screen passed the key on to the app cannot be told from here (Textual stops
            # a message whose sender is the parent, and still bubbles it there): a call queued behind
            # it on the app comes after the app's bindings if it did, at once if it did not.
            self.call_later(self._key_reached_app, message)
        elif message._stop_propagation or not (node.is_parent_active and node.is_attached):
            self._key_handled()

    def _key_reached_app(self, key: events.Key | events.Paste) -> None:
        if key is self._key_out:
            self._key_handled()

    def _key_handled(self) -> None:
        for node in self._key_path:
            node.message_signal.unsubscribe(self)
        self._key_out, self._key_path = None, []
        if self._keys_held:
            self.call_later(self._route_keys)

    async def _key_patience(self) -> None:
        self._key_timer = None
        await self._route_keys()
