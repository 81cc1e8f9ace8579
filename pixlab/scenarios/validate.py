"""The rules a scenario must follow beyond its types: names, references, and reachability.

`check(scenario, problems)` reports every problem it finds with the field's
path and what to do. The reachability check works out, from the scenario's
lab and what each device may change, every way a device can talk to the lab
("channels"), so that an objective no step can ever satisfy is an error.
"""

from __future__ import annotations

import dataclasses
import re
from email import message_from_string
from email.policy import default as default_policy
from typing import Any

from pixlab.client.errors import CATALOGUE
from pixlab.client.network import PortState
from pixlab.client.programs import DEFAULT_PROGRAM, PROGRAMS, may_run_on
from pixlab.lab.config import LISTENERS_BY_NAME
from pixlab.lab.events import EVENT_KINDS
from pixlab.lab.store import DEFAULT_FOLDERS
from pixlab.scenarios.channels import (
    CANONICAL_PORTS,
    Channels,
    can_type,
    event_channels,
    trace_channels,
)
from pixlab.scenarios.fields import Problems, did_you_mean, toml_key, walk
from pixlab.scenarios.matchers import (
    COMMON_FIELDS,
    EVENT_DATA,
    EVENT_PROTOCOLS,
    KIND_FIELDS,
    TRACE_WARNINGS,
)
from pixlab.scenarios.quotes import check_quotations
from pixlab.scenarios.schema import (
    COMPETENCES,
    DEVICE_ID_RE,
    FORMAT_VERSION,
    INTRUDER_DEVICE,
    LAB_DEVICE,
    OPERATIONS,
    PLACEHOLDER_RE,
    PLACEHOLDERS,
    PROGRAM_DEVICE,
    SLUG_RE,
    WALKTHROUGH_PLACEHOLDERS,
    Matcher,
    MessageSpec,
    Scenario,
    local,
)
from pixlab.scenarios.settings import SETTING_FIELDS, SETTING_GROUPS
from pixlab.scenarios.settings import expand_editable as editable_of
from pixlab.scenarios.validate_walkthrough import check_walkthrough
from pixlab.scenarios.world import CERTIFICATE_HOST_PREFIXES, names_of

DOMAIN_RE = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$")
ADDRESS_RE = re.compile(r"^[a-z0-9._+{}-]+@[a-z0-9.-]+$", re.IGNORECASE)
MAX_DEVICES = 3


def check(scenario: Scenario, problems: Problems, expected_slug: str | None = None) -> None:
    """Every rule of the format beyond types; problems are added to `problems`."""
    _check_header(scenario, problems, expected_slug)
    _check_placeholders(scenario, problems)
    _check_lab(scenario, problems)
    _check_sheet(scenario, problems)
    _check_devices(scenario, problems)
    # Which objectives can be met means little while the lab or the devices are wrong.
    reachability = not problems.errors
    channels = Channels(scenario)
    objective_ids = _ids(scenario.objectives, "objectives", problems)
    for n, objective in enumerate(scenario.objectives, 1):
        _check_matcher(scenario, channels, objective.when, f"objectives[{n}].when", problems,
                       objective_ids, reachability, is_objective=True)
    _check_after_cycles(scenario, problems)
    _ids(scenario.mistakes, "mistakes", problems)
    for n, mistake in enumerate(scenario.mistakes, 1):
        _check_matcher(scenario, channels, mistake.when, f"mistakes[{n}].when", problems,
                       objective_ids, reachability)
    for n, arrival in enumerate(scenario.lab.arrivals, 1):
        if arrival.after is not None:
            path = f"lab.arrivals[{n}].after"
            if arrival.after.kind in ("mailbox", "storage"):
                problems.error(path, "an arrival waits for an event or a trace, not a mailbox "
                               "or a device's storage")
            else:
                _check_matcher(scenario, channels, arrival.after, path, problems, objective_ids,
                               reachability)
    _check_hints_and_quiz(scenario, problems)
    for key, message in scenario.embed.problems():
        problems.error(f"embed.{key}", message)
    check_quotations(scenario, problems)
    if scenario.walkthrough is not None:
        check_walkthrough(scenario, problems)


# -- the header, texts and placeholders ------------------------------------------------


def _check_header(scenario: Scenario, problems: Problems, expected_slug: str | None) -> None:
    if scenario.format_version > FORMAT_VERSION:
        problems.error("format_version", f"this file is in format {scenario.format_version}; "
                       f"this PixLab reads format {FORMAT_VERSION} — update PixLab")
    elif scenario.format_version != FORMAT_VERSION:
        problems.error("format_version", f"write format_version = {FORMAT_VERSION}")
    if not SLUG_RE.match(scenario.slug):
        problems.error("slug", f"'{scenario.slug}' is not a slug: use lower-case letters, "
                       "digits and dashes (mon-scenario)")
    elif expected_slug is not None and scenario.slug != expected_slug:
        problems.error("slug", f"'{scenario.slug}' must equal the file name '{expected_slug}' — "
                       f"rename the file to {scenario.slug}.toml or write slug = "
                       f"\"{expected_slug}\"")
    if not 1 <= scenario.minutes <= 180:
        problems.error("minutes", "give the time it takes, from 1 to 180 minutes")
    if not scenario.competences:
        problems.error("competences", "name at least one Pix competence (2.1, 4.1, …)")
    for n, code in enumerate(scenario.competences, 1):
        if code not in COMPETENCES:
            problems.error(f"competences[{n}]", f"unknown Pix competence '{code}'"
                           + did_you_mean(code, COMPETENCES))


def _check_placeholders(scenario: Scenario, problems: Problems) -> None:
    without_english = []
    for path, value in walk(scenario):
        if isinstance(value, str):
            for name in PLACEHOLDER_RE.findall(value):
                if name not in PLACEHOLDERS and not (
                    name in WALKTHROUGH_PLACEHOLDERS and path.startswith("walkthrough")
                ):
                    problems.error(path, f"unknown placeholder '{{{name}}}'"
                                   + did_you_mean(name, PLACEHOLDERS)
                                   + f" (known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)})")
        if path.endswith(".en") and value is None and not path.startswith("walkthrough"):
            without_english.append(path[:-3])
    for path, value in walk(scenario):
        if path.endswith(".fr") and isinstance(value, str) and not value.strip():
            problems.error(path, 'missing French text — write it in fr = "…"')
    if without_english:
        problems.warn(without_english[0], f"no English text here ({len(without_english)} "
                      "texts in all): English learners will read the French one")


def _ids(items: tuple[Any, ...], name: str, problems: Problems) -> set[str]:
    seen: set[str] = set()
    for n, item in enumerate(items, 1):
        if not DEVICE_ID_RE.match(item.id):
            problems.error(f"{name}[{n}].id", f"'{item.id}' is not a short name: use lower-case "
                           "letters, digits and dashes")
        if item.id in seen:
            problems.error(f"{name}[{n}].id", f"'{item.id}' is used twice — give each its own id")
        seen.add(item.id)
    return seen


# -- the lab, the sheet and the devices ------------------------------------------------


def _learner_template(scenario: Scenario) -> str:
    return scenario.lab.address_template.lower()


def _check_lab(scenario: Scenario, problems: Problems) -> None:
    lab = scenario.lab
    if not lab.domains:
        problems.error("lab.domains", "give at least one domain (lycee-exemple.test)")
    for n, domain in enumerate(lab.domains, 1):
        if not DOMAIN_RE.match(domain):
            problems.error(f"lab.domains[{n}]", f"'{domain}' is not a domain name "
                           "(lower case, like college-exemple.test)")
    domains = {d.lower() for d in lab.domains}
    local, _, domain = _learner_template(scenario).partition("@")
    if "{learner}" not in local:
        problems.error("lab.address", "the learner's address must contain {learner} before the "
                       "@, so each learner gets their own mailbox ({learner}@" +
                       (lab.domains[0] if lab.domains else "lycee-exemple.test") + ")")
    elif domain not in domains:
        problems.error("lab.address", f"the domain '{domain}' is not one of lab.domains")
    if lab.quota_kb < 1:
        problems.error("lab.quota_kb", "the mailbox needs at least 1 kilobyte")
    if lab.lockout_after < 0:
        problems.error("lab.lockout_after", "write 0 (never) or a number of failed logins")
    for n, host in enumerate(lab.hosts, 1):
        path = f"lab.hosts[{n}]"
        prefix, _, host_domain = host.name.lower().partition(".")
        if host_domain not in domains or prefix not in CERTIFICATE_HOST_PREFIXES:
            problems.error(f"{path}.name", f"'{host.name}' cannot be in this lab: use "
                           + ", ".join(p + "." for p in CERTIFICATE_HOST_PREFIXES)
                           + " followed by one of lab.domains (the lab's certificate names them)")
        for port in host.ports:
            if not port.isdigit() or int(port) not in CANONICAL_PORTS:
                problems.error(f"{path}.ports.{port}", f"'{port}' is not a port of the lab: use "
                               + ", ".join(map(str, CANONICAL_PORTS))
                               + did_you_mean(port, map(str, CANONICAL_PORTS)))
    known_folders = _folders(scenario)
    for n, address in enumerate(lab.contacts, 1):
        if not ADDRESS_RE.match(address) or "{" in address:
            problems.error(f"lab.contacts[{n}]", f"'{address}' is not a mail address")
    for n, message in enumerate(lab.messages, 1):
        _check_message(message, f"lab.messages[{n}]", known_folders, problems)
    for n, arrival in enumerate(lab.arrivals, 1):
        path = f"lab.arrivals[{n}]"
        _check_message(arrival, path, known_folders, problems)
        if arrival.via == "smtp" and arrival.folder.upper() != "INBOX":
            problems.error(f"{path}.folder", "a message delivered by SMTP lands in INBOX: remove "
                           "folder, or write via = \"store\"")
        if arrival.after_seconds < 0 or arrival.retry_every < 1:
            problems.error(f"{path}.after_seconds", "delays are whole seconds, 0 or more "
                           "(retry_every: 1 or more)")


def _folders(scenario: Scenario) -> set[str]:
    names = {name for name, _ in DEFAULT_FOLDERS} | set(scenario.lab.folders)
    return {n.upper() if n.upper() == "INBOX" else n for n in names}


def _check_message(
    message: MessageSpec, path: str, folders: set[str], problems: Problems
) -> None:
    folder = "INBOX" if message.folder.upper() == "INBOX" else message.folder
    if folder not in folders:
        problems.error(f"{path}.folder", f"folder '{message.folder}' does not exist — add it to "
                       "lab.folders" + did_you_mean(message.folder, folders))
    fields = [message.sender, message.subject, message.body]
    if message.raw is not None:
        if any(f is not None for f in fields):
            problems.error(f"{path}.raw", "write the message either as raw text or with from, "
                           "subject and body, not both")
        parsed = message_from_string(message.raw, policy=default_policy)
        if "From" not in parsed or "Subject" not in parsed or parsed.defects:
            problems.error(f"{path}.raw", "raw must be an RFC 822 message: From: and Subject: "
                           "lines, a blank line, then the text")
        return
    for key, value in (("from", message.sender), ("subject", message.subject),
                       ("body", message.body)):
        if value is None:
            problems.error(f"{path}.{key}", f"missing — add {key} (or write the whole message "
                           "in raw)")
    if message.attachment_kb < 0:
        problems.error(f"{path}.attachment_kb", "write 0 or a number of kilobytes")


def _check_sheet(scenario: Scenario, problems: Problems) -> None:
    names = names_of(scenario.lab)
    if not scenario.sheet.servers:
        problems.error("sheet.servers", "the sheet needs at least one server")
    for n, server in enumerate(scenario.sheet.servers, 1):
        path = f"sheet.servers[{n}]"
        if (server.role == "outgoing") != (server.protocol == "smtp"):
            problems.error(f"{path}.role", "sending is SMTP (role = \"outgoing\"); receiving is "
                           "IMAP or POP3 (role = \"incoming\")")
        ports = names.lookup(server.host)
        if ports is None or ports.get(server.port, PortState.CLOSED) is not PortState.OPEN:
            problems.warn(path, f"{server.host}:{server.port} does not answer in this lab — "
                          "is the sheet meant to be wrong?")


def _check_devices(scenario: Scenario, problems: Problems) -> None:
    if not 1 <= len(scenario.devices) <= MAX_DEVICES:
        problems.error("devices", f"give 1 to {MAX_DEVICES} devices")
    _ids(scenario.devices, "devices", problems)
    allowed = [*SETTING_FIELDS, *SETTING_GROUPS]
    for n, device in enumerate(scenario.devices, 1):
        path = f"devices[{n}]"
        if device.id == LAB_DEVICE:
            problems.error(f"{path}.id", f"'{LAB_DEVICE}' names the lab's own deliveries: "
                           "choose another id")
        if device.id == PROGRAM_DEVICE:
            problems.error(f"{path}.id", f"'{PROGRAM_DEVICE}' names the real mail programs: "
                           "choose another id")
        if device.program and not may_run_on(device.program, device.kind):
            runs = [p for p in PROGRAMS if may_run_on(p, device.kind)]
            problems.error(f"{path}.program", f"'{device.program}' is not a program of a "
                           f"{device.kind}: choose {', '.join(runs)}"
                           + did_you_mean(device.program, runs))
        offered = PROGRAMS.get(device.program or DEFAULT_PROGRAM)
        for side in ("incoming", "outgoing"):
            chosen = getattr(device, side).security
            if offered and chosen is not None and chosen not in offered.securities:
                problems.error(f"{path}.{side}.security", f"'{chosen}' is not a choice of "
                               f"{offered.id}'s form: choose one of "
                               f"{', '.join(str(s) for s in offered.securities)}")
        for m, name in enumerate(device.editable, 1):
            if name not in allowed:
                problems.error(f"{path}.editable[{m}]", f"unknown setting '{name}'"
                               + did_you_mean(name, allowed))
        editable = editable_of(device.editable)
        incoming = device.incoming
        for key, value in (("protocol", incoming.protocol), ("host", incoming.host),
                           ("port", incoming.port), ("security", incoming.security)):
            if value in (None, "") and f"incoming.{key}" not in editable:
                problems.error(f"{path}.incoming.{key}", "blank and not editable: the learner "
                               f"could never fill it in — set it, or add \"incoming.{key}\" "
                               "to editable")


# -- matchers --------------------------------------------------------------------------


def _check_matcher(
    scenario: Scenario,
    channels: Channels,
    matcher: Matcher,
    path: str,
    problems: Problems,
    objective_ids: set[str],
    reachability: bool,
    *,
    is_objective: bool = False,
) -> None:
    kinds = [k for k in ("event", "trace", "mailbox", "storage")
             if getattr(matcher, k) is not None]
    if not kinds:
        problems.error(path, "say what proves it: event = \"…\", trace = \"…\", mailbox = \"…\" "
                       "or storage = \"…\"")
        return
    if len(kinds) > 1:
        problems.error(f"{path}.{kinds[1]}", f"a matcher is an event, a trace, a mailbox or a "
                       f"device's storage: keep only one of {' and '.join(kinds)}")
        return
    kind = kinds[0]
    before = len(problems.errors)
    for f in dataclasses.fields(Matcher):
        value = getattr(matcher, f.name)
        if f.name in COMMON_FIELDS or f.name in KIND_FIELDS[kind]:
            continue
        if value not in (None, (), {}):
            problems.error(f"{path}.{toml_key(f)}", f"'{toml_key(f)}' does not apply to "
                           f"{kind} matchers — remove it")
    device_ids = [d.id for d in scenario.devices]
    if matcher.device is not None and matcher.device not in [
        *device_ids, LAB_DEVICE, PROGRAM_DEVICE, INTRUDER_DEVICE
    ]:
        problems.error(f"{path}.device", f"unknown device '{matcher.device}'"
                       + did_you_mean(matcher.device, device_ids))
    if matcher.device is not None and matcher.devices:
        problems.error(f"{path}.devices", "write device (one) or devices (each of them), "
                       "not both")
    for n, device in enumerate(matcher.devices, 1):
        if device not in device_ids:
            problems.error(f"{path}.devices[{n}]", f"unknown device '{device}'"
                           + did_you_mean(device, device_ids))
    if matcher.times < 1:
        problems.error(f"{path}.times", "write 1 or more")
    for n, other in enumerate(matcher.after, 1):
        if other not in objective_ids:
            problems.error(f"{path}.after[{n}]", f"unknown objective '{other}'"
                           + did_you_mean(other, objective_ids))
    if matcher.listener is not None and matcher.listener not in LISTENERS_BY_NAME:
        problems.error(f"{path}.listener", f"unknown listener '{matcher.listener}'"
                       + did_you_mean(matcher.listener, LISTENERS_BY_NAME)
                       + f" (the lab has {', '.join(LISTENERS_BY_NAME)})")
    if matcher.port is not None and matcher.port not in CANONICAL_PORTS:
        problems.error(f"{path}.port", f"{matcher.port} is not a port of the lab: use "
                       + ", ".join(map(str, CANONICAL_PORTS)))
    if kind == "event":
        _check_event(matcher, path, problems)
    elif kind == "trace":
        _check_trace(matcher, path, problems, is_objective)
    elif kind == "storage":
        _check_storage(matcher, path, problems)
        return
    if len(problems.errors) > before or not reachability:
        return  # reachability means little while the matcher itself is wrong
    if kind == "mailbox":
        _check_mailbox(scenario, channels, matcher, path, problems)
        return
    _check_reachable(scenario, channels, matcher, path, problems, is_objective)


def _check_event(matcher: Matcher, path: str, problems: Problems) -> None:
    event = matcher.event or ""
    if event not in EVENT_KINDS:
        problems.error(f"{path}.event", f"unknown event '{event}'"
                       + did_you_mean(event, EVENT_KINDS))
        return
    for key in matcher.data:
        if key not in EVENT_DATA[event]:
            problems.error(f"{path}.data.{key}", f"'{event}' events have no '{key}'"
                           + did_you_mean(key, EVENT_DATA[event])
                           + f" (they have {', '.join(EVENT_DATA[event])})")


def _check_trace(matcher: Matcher, path: str, problems: Problems, is_objective: bool) -> None:
    operation = matcher.trace or ""
    if operation not in (*OPERATIONS, "any"):
        problems.error(f"{path}.trace", f"unknown operation '{operation}'"
                       + did_you_mean(operation, OPERATIONS)
                       + f" (use {', '.join(OPERATIONS)} or any)")
    errors = (matcher.error,) if isinstance(matcher.error, str) else matcher.error or ()
    for key in errors:
        if key not in CATALOGUE:
            problems.error(f"{path}.error", f"unknown error '{key}'"
                           + did_you_mean(key, CATALOGUE))
    if errors and matcher.ok:
        problems.error(f"{path}.ok", "an operation that succeeded has no error: remove ok "
                       "or error")
    if matcher.warning is not None and matcher.warning not in TRACE_WARNINGS:
        problems.error(f"{path}.warning", f"unknown warning '{matcher.warning}'"
                       + did_you_mean(matcher.warning, TRACE_WARNINGS))
    counted = (matcher.inbox_at_least, matcher.inbox_at_most)
    if any(v is not None for v in counted) and operation not in ("fetch", "list", "any"):
        problems.error(f"{path}.inbox_at_least", "only fetch and list see the inbox's messages")
    downloads = (matcher.downloaded_at_least, matcher.downloaded_at_most,
                 matcher.duplicates_at_least, matcher.duplicates_at_most)
    if any(v is not None for v in downloads) and operation not in ("fetch", "any"):
        problems.error(f"{path}.downloaded_at_least", "only fetch downloads messages (POP3)")
    if matcher.subject is not None and operation not in ("read", "fetch", "list", "any"):
        problems.error(f"{path}.subject", "only read, fetch and list show subjects")
    if is_objective and matcher.ok is None and not errors:
        problems.error(f"{path}.ok", "a failed operation would satisfy this objective: add "
                       "ok = true (or the error it must show)")


def _check_storage(matcher: Matcher, path: str, problems: Problems) -> None:
    if not (matcher.storage or "").strip():
        problems.error(f"{path}.storage", "name the device's local folder (INBOX: what POP3 "
                       "downloaded)")
    if matcher.device is None:
        problems.error(f"{path}.device", "a storage belongs to one device: add device = \"…\"")
    for key in ("devices", "times"):
        if getattr(matcher, key) not in ((), 1):
            problems.error(f"{path}.{key}", f"a storage is checked as it is: remove {key}")
    if (matcher.at_least is not None and matcher.at_most is not None
            and matcher.at_least > matcher.at_most):
        problems.error(f"{path}.at_least", "at_least is more than at_most: nothing can match")


def _check_mailbox(
    scenario: Scenario, channels: Channels, matcher: Matcher, path: str, problems: Problems
) -> None:
    accounts = {_learner_template(scenario), "{address}", *(c.lower() for c in
                                                             scenario.lab.contacts)}
    if matcher.account is not None and matcher.account.lower() not in accounts:
        problems.error(f"{path}.account", f"'{matcher.account}' is neither the learner's "
                       "address ({address}) nor one of lab.contacts")
    folder = matcher.mailbox or ""
    folder = "INBOX" if folder.upper() == "INBOX" else folder
    can_create = any(c.logged_in and c.listener.protocol == "imap" for c in channels.all)
    if folder not in _folders(scenario) and not can_create:
        problems.error(f"{path}.mailbox", f"folder '{matcher.mailbox}' never exists here: no "
                       "device can create it over IMAP" + did_you_mean(folder, _folders(scenario)))
    if (matcher.at_least is not None and matcher.at_most is not None
            and matcher.at_least > matcher.at_most):
        problems.error(f"{path}.at_least", "at_least is more than at_most: nothing can match")
    for key in ("device", "devices", "times"):
        if getattr(matcher, key) not in (None, (), 1):
            problems.error(f"{path}.{key}", f"a mailbox is checked as it is, whoever changed it: "
                           f"remove {key}")
    if not matcher.after and _met_by_seed(scenario, matcher, folder):
        problems.warn(path, "the seeded mailbox already matches: this is met as soon as the "
                      "attempt starts — add after = [\"…\"]")


def _met_by_seed(scenario: Scenario, matcher: Matcher, folder: str) -> bool:
    """Whether the learner's seeded folder already matches a mailbox matcher (in French)."""
    if matcher.account not in (None, "{address}", _learner_template(scenario)):
        return False
    seeds = [m for m in scenario.lab.messages
             if ("INBOX" if m.folder.upper() == "INBOX" else m.folder) == folder]
    if matcher.subject is not None:
        wanted = local(matcher.subject, "fr").lower()
        seeds = [m for m in seeds if m.raw is not None and wanted in m.raw.lower()
                 or m.raw is None and wanted in local(m.subject, "fr").lower()]
    count = len(seeds)
    return ((matcher.at_least is None or count >= matcher.at_least)
            and (matcher.at_most is None or count <= matcher.at_most))


def _check_reachable(
    scenario: Scenario, channels: Channels, matcher: Matcher, path: str, problems: Problems,
    is_objective: bool,
) -> None:
    select = event_channels if matcher.kind == "event" else trace_channels
    wanted: list[str | None] = [*matcher.devices] or [matcher.device]
    what = "objective" if is_objective else "matcher"
    for device in wanted:
        if matcher.kind == "trace" and not matcher.ok:
            # A failure can happen wherever the learner can point the device, even a port
            # nobody answers: what matters is what its settings can be.
            if can_type(scenario, channels, matcher, device):
                continue
        elif select(matcher, channels.for_device(device)):
            continue
        who = f"device '{device}'" if device else "no device"
        reason = _why_unreachable(scenario, channels, matcher)
        subject = f"{who} can never" if device else f"{who} can ever"
        problems.error(path, f"this {what} can never be met: {subject} do this in this "
                       f"scenario's lab ({reason})")
        return


def _why_unreachable(scenario: Scenario, channels: Channels, matcher: Matcher) -> str:
    names = channels.names
    port = matcher.port or (
        LISTENERS_BY_NAME[matcher.listener].port_canonical if matcher.listener else None
    )
    if port is not None and not any(
        ports.get(port) is PortState.OPEN for ports in names.hosts.values()
    ):
        return f"port {port} is closed or filtered on every host name"
    protocol = matcher.protocol or (
        LISTENERS_BY_NAME[matcher.listener].protocol if matcher.listener else None
    )
    if protocol is None and matcher.kind == "event":
        allowed = EVENT_PROTOCOLS.get(matcher.event or "")
        if allowed is not None and len(allowed) == 1:
            protocol = next(iter(allowed))
    if protocol is not None and not any(c.listener.protocol == protocol for c in channels.all):
        return f"no device can use {protocol.upper()} with the settings it may change"
    if matcher.tls is False and matcher.event == "auth.succeeded" and not channels.cleartext:
        return "the lab refuses logins without TLS (allow_cleartext = false)"
    if matcher.tls and not channels.world_starttls and port in (25, 110, 143, 587):
        return f"port {port} offers no STARTTLS here (starttls = false)"
    return "no device reaches it with its settings and what the learner may change"


def _check_after_cycles(scenario: Scenario, problems: Problems) -> None:
    after = {o.id: set(o.when.after) for o in scenario.objectives}
    for n, objective in enumerate(scenario.objectives, 1):
        seen: set[str] = set()
        todo = list(after.get(objective.id, ()))
        while todo:
            current = todo.pop()
            if current == objective.id:
                problems.error(f"objectives[{n}].when.after", f"'{objective.id}' waits for "
                               "itself through `after`: break the circle")
                break
            if current not in seen:
                seen.add(current)
                todo.extend(after.get(current, ()))


# -- hints, quiz and walkthrough -------------------------------------------------------


def _check_hints_and_quiz(scenario: Scenario, problems: Problems) -> None:
    if len(scenario.hints) < 2:
        problems.warn("hints", "give at least two hints, the last one nearly the answer")
    if not scenario.quiz:
        problems.warn("quiz", "no quiz: the debrief asks nothing")
    _ids(scenario.quiz, "quiz", problems)
    for n, question in enumerate(scenario.quiz, 1):
        path = f"quiz[{n}]"
        if not 2 <= len(question.choices) <= 6:
            problems.error(f"{path}.choices", "give 2 to 6 choices")
        right = sum(c.correct for c in question.choices)
        if question.kind == "single" and right != 1:
            problems.error(f"{path}.choices", f"a single-choice question has exactly one "
                           f"correct = true (found {right})")
        if question.kind == "multiple" and right < 1:
            problems.error(f"{path}.choices", "mark at least one choice correct = true")

