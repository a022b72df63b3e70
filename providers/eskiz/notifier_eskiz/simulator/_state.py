"""Accounts, messages, templates and tokens of one simulator, behind one lock.

The HTTP handlers run on the server's event-loop thread while a test thread
calls ``expire_tokens()``, ``advance()`` or reads ``messages``. Every change
therefore goes through ``SimulatorState`` under its lock.
"""

from __future__ import annotations

import dataclasses
import heapq
import random
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ._clock import SimulatorClock
from ._config import SimulatorConfig
from ._faults import FaultPlan
from ._messages import ACCEPTED, NEW, PART_STATES, CallbackEvent, StoredMessage, Template
from ._stats import SimulatorStats
from ._tokens import TokenRegistry

__all__ = ["Account", "Draft", "InsufficientBalance", "SimulatorState"]

_FIRST_MESSAGE_ID = 4_385_001
_FIRST_ACCOUNT_ID = 1001


@dataclass
class Account:
    """An Eskiz account the simulator serves; changed only under the state lock."""

    id: int
    email: str
    password: str = field(repr=False)
    role: str
    balance: int
    nicks: tuple[str, ...]
    name: str
    created_at: float
    status: str = "active"
    is_vip: bool = False


@dataclass(frozen=True)
class Draft:
    """A validated message waiting to be billed and stored."""

    to: str
    text: str
    parts: int
    encoding: int
    price: int  # UZS per part
    user_sms_id: str | None = None


class InsufficientBalance(Exception):
    """The account balance does not cover the messages of one request."""

    def __init__(self, balance: int, cost: int) -> None:
        super().__init__(f"balance {balance} UZS does not cover {cost} UZS")
        self.balance = balance
        self.cost = cost


def _template_pattern(template: str) -> re.Pattern[str]:
    # NOTE: Eskiz publishes no template syntax. The simulator reads "%d" as a
    # run of digits and "%w" as one word; everything else must match exactly.
    pieces = re.split(r"(%d|%w)", template)
    placeholders = {"%d": r"\d+", "%w": r"\S+"}
    regex = "".join(placeholders.get(piece, re.escape(piece)) for piece in pieces)
    return re.compile(regex, re.DOTALL)


class SimulatorState:
    """The complete state of one simulator instance, shared by its handlers and its owner."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.clock = SimulatorClock()
        self.stats = SimulatorStats()
        self.faults = FaultPlan()
        self.tokens = TokenRegistry(self.clock, config.token_ttl)
        # Fault injection needs a seedable generator, not a secure one.
        self._random = random.Random(config.seed)  # noqa: S311
        self._lock = threading.RLock()
        self._accounts: dict[int, Account] = {}
        self._messages: dict[int, StoredMessage] = {}
        # (time of the next status change, message id) for every message not yet final
        self._due: list[tuple[float, int]] = []
        self._by_request: dict[str, list[int]] = {}
        self._templates: dict[int, Template] = {}
        self._callbacks: deque[CallbackEvent] = deque()
        self._outcome_overrides: dict[str, str] = dict(config.outcome_rules)
        self._next_message_id = _FIRST_MESSAGE_ID
        self._next_template_id = 1
        self.main_account = self.add_account(
            email=config.email,
            password=config.password,
            role=config.role,
            balance=config.balance,
            nicks=config.nicks,
            name=config.account_name,
        )
        # Set by the background server while its ticker delivers callbacks; when
        # unset (in-process use), each request delivers the queued callbacks itself.
        self.background_delivery = False

    # --- Random draws ---

    def chance(self, rate: float) -> bool:
        """Return True with probability ``rate``; draws nothing for 0 and 1."""
        if rate <= 0.0:
            return False
        if rate >= 1.0:
            return True
        with self._lock:
            return self._random.random() < rate

    def uniform(self, low: float, high: float) -> float:
        if low == high:
            return low
        with self._lock:
            return self._random.uniform(low, high)

    # --- Accounts ---

    def add_account(
        self,
        *,
        email: str,
        password: str,
        role: str = "user",
        balance: int = 1_000_000,
        nicks: Iterable[str] = ("4546",),
        name: str = "Simulator",
    ) -> Account:
        """Create an account that can log in with ``email`` and ``password``."""
        if role not in ("user", "test"):
            raise ValueError(f"role must be 'user' or 'test', got {role!r}")
        with self._lock:
            if any(account.email == email for account in self._accounts.values()):
                raise ValueError(f"an account with e-mail {email!r} already exists")
            account_id = _FIRST_ACCOUNT_ID + len(self._accounts)
            account = Account(
                id=account_id,
                email=email,
                password=password,
                role=role,
                balance=balance,
                nicks=tuple(nicks),
                name=name,
                created_at=self.clock.now(),
            )
            self._accounts[account_id] = account
            return account

    def find_account(self, email: str, password: str) -> Account | None:
        """Return the account with these credentials, or None."""
        with self._lock:
            for account in self._accounts.values():
                if account.email == email and account.password == password:
                    return account
        return None

    def account(self, account_id: int) -> Account:
        with self._lock:
            return self._accounts[account_id]

    def balance(self, account_id: int) -> int:
        with self._lock:
            return self._accounts[account_id].balance

    def set_balance(self, account_id: int, balance: int) -> None:
        with self._lock:
            self._accounts[account_id].balance = balance

    # --- Messages ---

    def store_messages(
        self,
        account: Account,
        drafts: list[Draft],
        *,
        nick: str | None,
        international: bool,
        country_code: str,
        dispatch_id: int | None = None,
        callback_url: str | None = None,
    ) -> tuple[str, list[StoredMessage]]:
        """Bill and store the drafts of one request; return its request id and the messages.

        Raises:
            InsufficientBalance: billing is on and the balance does not cover
                every draft; nothing is stored or billed then.
        """
        config = self.config
        request_id = str(uuid.uuid4())
        with self._lock:
            cost = sum(draft.parts * draft.price for draft in drafts)
            if config.billing and account.balance < cost:
                raise InsufficientBalance(account.balance, cost)
            if config.billing:
                account.balance -= cost
            now = self.clock.now()
            stored = []
            for draft in drafts:
                message = StoredMessage(
                    id=self._next_message_id,
                    request_id=request_id,
                    account_id=account.id,
                    to=draft.to,
                    text=draft.text,
                    nick=nick,
                    international=international,
                    country_code=country_code,
                    dispatch_id=dispatch_id,
                    user_sms_id=draft.user_sms_id,
                    callback_url=callback_url or None,
                    parts=draft.parts,
                    encoding=draft.encoding,
                    price=draft.price,
                    total_price=draft.price * draft.parts,
                    is_ad=False,
                    outcome=self._choose_outcome(draft.to),
                    status=NEW,
                    dlr_state=PART_STATES["new"],
                    created_at=now,
                    accept_at=now + config.accept_delay,
                    final_at=now + config.final_delay,
                    history=((PART_STATES["new"], now),),
                )
                self._next_message_id += 1
                self._messages[message.id] = message
                heapq.heappush(self._due, (message.accept_at, message.id))
                self._by_request.setdefault(request_id, []).append(message.id)
                stored.append(message)
        self.stats.increment("sends", len(stored))
        return request_id, stored

    def _choose_outcome(self, phone: str) -> str:
        rule = self._outcome_overrides.get(phone)
        if rule is not None:
            return rule
        ratios = self.config.outcome_ratios
        if ratios:
            outcomes = list(ratios)
            weights = [ratios[outcome] for outcome in outcomes]
            return self._random.choices(outcomes, weights)[0]
        return self.config.outcome

    def set_outcome(self, phone: str, outcome: str) -> None:
        """Make every later message to ``phone`` (digits, country code first) end in ``outcome``."""
        if outcome not in PART_STATES or outcome in ("new", "accepted"):
            raise ValueError(
                f"outcome must be 'delivered', 'undelivered', 'expired' or 'rejected', "
                f"got {outcome!r}"
            )
        with self._lock:
            self._outcome_overrides[phone.lstrip("+")] = outcome

    def messages(
        self, predicate: Callable[[StoredMessage], bool] | None = None
    ) -> list[StoredMessage]:
        """Stored messages in the order they were accepted, optionally filtered."""
        with self._lock:
            found = list(self._messages.values())
        if predicate is None:
            return found
        return [message for message in found if predicate(message)]

    def message(self, message_id: int) -> StoredMessage | None:
        with self._lock:
            return self._messages.get(message_id)

    def messages_of_request(self, request_id: str) -> list[StoredMessage]:
        with self._lock:
            return [self._messages[i] for i in self._by_request.get(request_id, [])]

    # --- Progress ---

    def apply_due(self) -> int:
        """Move every message whose timer is due; return how many changes were made."""
        return self._progress(force=False)

    def apply_due_if_automatic(self) -> None:
        if self.config.auto_progress:
            self._progress(force=False)

    def settle(self) -> int:
        """Move every pending message to its outcome now, timers ignored."""
        return self._progress(force=True)

    def _progress(self, *, force: bool) -> int:
        now = self.clock.now()
        changes = 0
        with self._lock:
            if force:
                due = sorted(message_id for _, message_id in self._due)
                self._due.clear()
            else:
                due = []
                while self._due and self._due[0][0] <= now:
                    due.append(heapq.heappop(self._due)[1])
            for message_id in due:
                message = self._messages[message_id]
                if message.status == NEW:
                    message = self._change(message, "accepted", now)
                    changes += 1
                    if not force and message.final_at > now:
                        heapq.heappush(self._due, (message.final_at, message_id))
                        continue
                self._change(message, message.outcome, now)
                changes += 1
        return changes

    def _change(self, message: StoredMessage, stage: str, now: float) -> StoredMessage:
        part_state = PART_STATES[stage]
        if stage == "accepted":
            status = ACCEPTED
            changed = dataclasses.replace(message, accepted_at=now)
        elif stage == "delivered":
            status = "DELIVERED"
            changed = dataclasses.replace(message, finished_at=now)
        else:
            status = self.config.failed_status_names.get(stage, stage.upper())
            changed = dataclasses.replace(message, finished_at=now)
        changed = dataclasses.replace(
            changed,
            status=status,
            dlr_state=part_state,
            history=(*message.history, (part_state, now)),
        )
        self._messages[message.id] = changed
        if changed.callback_url:
            self._callbacks.append(CallbackEvent(changed, part_state, now))
        return changed

    def take_callback_events(self) -> list[CallbackEvent]:
        """Remove and return the callbacks waiting to be sent, oldest first."""
        with self._lock:
            events = list(self._callbacks)
            self._callbacks.clear()
        return events

    # --- Templates ---

    def submit_template(self, account: Account, text: str) -> Template:
        with self._lock:
            template = Template(
                id=self._next_template_id,
                account_id=account.id,
                text=text,
                status="moderation",
                created_at=self.clock.now(),
            )
            self._next_template_id += 1
            self._templates[template.id] = template
            return template

    def templates(self, account_id: int | None = None) -> list[Template]:
        """Templates in submission order, auto-approval applied."""
        self._auto_approve()
        with self._lock:
            found = list(self._templates.values())
        if account_id is None:
            return found
        return [template for template in found if template.account_id == account_id]

    def approve_template(self, template: int | str, *, status: str | None = None) -> Template:
        """Approve a template by id or by its exact text (or give it another ``status``)."""
        new_status = status or self.config.approved_template_status
        with self._lock:
            for candidate in self._templates.values():
                if candidate.id == template or candidate.text == template:
                    approved = dataclasses.replace(candidate, status=new_status)
                    self._templates[candidate.id] = approved
                    return approved
        raise KeyError(f"no template with id or text {template!r}; submit it first")

    def _auto_approve(self) -> None:
        delay = self.config.template_auto_approve_after
        if delay is None:
            return
        now = self.clock.now()
        with self._lock:
            for template in list(self._templates.values()):
                if template.status == "moderation" and now >= template.created_at + delay:
                    self._templates[template.id] = dataclasses.replace(
                        template, status=self.config.approved_template_status
                    )

    def text_is_approved(self, account_id: int, text: str) -> bool:
        """Return whether ``text`` matches an approved template of the account."""
        approved = self.config.approved_template_status
        return any(
            template.status == approved and _template_pattern(template.text).fullmatch(text)
            for template in self.templates(account_id)
        )
