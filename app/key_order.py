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

A key that opens a screen (a modal with an input) has been handled before that screen is up: the
screen is mounted, resumed and given its focus later, in turns of its own queue and the app's. Keys
typed with it would go to the screen underneath, and run its bindings. So after any change of the screen
stack (Textual's public ``App.screen_change_signal``) keys wait until the new screen has handled what was
queued to it, and the app the focus the screen asked for (``Widget.focus`` is a ``call_later`` of the
app's); a key whose action looks something up in a worker before it opens its screen
(:func:`opens_screen`) holds the keys after it until that worker has opened one, or ended. Both waits
are bounded by ``PATIENCE`` too.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from functools import partial, wraps
from typing import ParamSpec

from textual import events
from textual.app import App, ReturnType
from textual.message import Message
from textual.message_pump import MessagePump
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import Worker, WorkerError

#: What a person types: a paste is held behind the keys typed before it, as they are.
TYPED = (events.Key, events.Paste)
#: Seconds a held key waits for the key before it to be handled (or a screen to open), before it is
#: routed anyway.
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
        #: A screen the keys wait for to be up, or a worker to open one (or end), and since when.
        self._opening: Screen | Worker | None = None
        self._opening_since = 0.0
        self._watching: set[asyncio.Task] = set()  # the tasks that wait for such a worker to end

    def on_mount(self) -> None:
        """Each change of the screen stack holds the keys until its screen is up (a subclass's own
        ``on_mount`` runs as well: Textual calls the handler of every class in the MRO)."""
        self.screen_change_signal.subscribe(self, self._screen_changed, immediate=True)

    def hold_keys_for(self, worker: Worker) -> None:
        """Keys typed from now on wait until ``worker`` has opened a screen (and it is up) or has ended."""
        self._wait_for(worker)
        watch = asyncio.create_task(self._watch(worker))
        self._watching.add(watch)
        watch.add_done_callback(self._watching.discard)

    async def _watch(self, worker: Worker) -> None:
        with suppress(WorkerError):  # failed or cancelled: over all the same
            await worker.wait()
        self._opened(worker)

    def _screen_changed(self, screen: Screen) -> None:
        """The screen stack changed to ``screen``: keys wait until it is up. That takes three turns: the
        app's (the change completes: ``switch_mode`` posts the screen's ScreenResume after it publishes
        the change), the screen's (mounted, resumed, its focus asked for), the app's again (a widget's
        ``focus()`` is set in a call of the app's)."""
        self._wait_for(screen)
        self.call_later(screen.call_later, self.call_later, self._opened, screen)

    def _wait_for(self, opening: Screen | Worker) -> None:
        self._opening, self._opening_since = opening, time.monotonic()

    def _opened(self, opening: Screen | Worker) -> None:
        if opening is self._opening:
            self._opening = None
            if self._keys_held:
                self.call_later(self._route_keys)

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
        now = time.monotonic()
        if self._key_out is not None and now - self._key_sent > PATIENCE:
            self._key_handled()  # it never reported back
        if self._opening is not None and now - self._opening_since > PATIENCE:
            self._opening = None  # never came up, or the worker is still looking
        while self._keys_held and self._key_out is None and self._opening is None:
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


Params = ParamSpec("Params")


def opens_screen(action: Callable[Params, Worker]) -> Callable[Params, Worker]:
    """For an action that runs as a worker (under ``@work``) and opens a screen once it has looked
    something up: the keys typed after its key wait for that screen (module docstring)."""

    @wraps(action)
    def start(*args: Params.args, **kwargs: Params.kwargs) -> Worker:
        worker = action(*args, **kwargs)
        app = worker.node.app
        if isinstance(app, KeysInOrder):
            app.hold_keys_for(worker)
        return worker

    return start
