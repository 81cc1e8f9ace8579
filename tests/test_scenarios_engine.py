"""The scenario engine on a real lab: fresh worlds, live objectives, mistakes, arrivals, progress.

The fixture scenario `labo-essai` uses every part of the format: a college
whose port 25 is filtered for the learner, a nearly full mailbox, an expired
certificate on mail., a lock-out after three failures, arrivals after a delay,
after a trace and after an event, and a shared address that accepts mail.
"""

from __future__ import annotations

import email
import email.policy
import threading
from pathlib import Path

import pytest

from pixlab.client.client import MailClient
from pixlab.client.settings import Security
from pixlab.lab.events import Event
from pixlab.lab.runner import Lab
from pixlab.scenarios import progress
from pixlab.scenarios.engine import IncompleteSettings, ScenarioEngine, UnknownScenario
from pixlab.scenarios.loader import load_catalogue
from pixlab.scenarios.matchers import EventFact, matches
from pixlab.scenarios.progress import AttemptRecord
from pixlab.scenarios.schema import Matcher
from pixlab.scenarios.settings import SettingError
from pixlab.scenarios.storage import MemoryLocalMail
from pixlab.scenarios.walkthrough import OffsetClock

# The store, its servers and the pages on both engines: SQLite, and a real PostgreSQL.
pytestmark = pytest.mark.both_databases

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "scenarios_ok"
CATALOGUE = load_catalogue([FIXTURES])
SLUG = "labo-essai"
LEARNER = "eleve-7"
ADDRESS = "eleve-7.essai@college-essai.test"
SECRETARIAT = "secretariat@college-essai.test"


@pytest.fixture
def lab(make_lab) -> Lab:  # type: ignore[no-untyped-def]
    """A lab with the secure defaults: the scenario's world changes it for its learner only."""
    return make_lab()


@pytest.fixture
def clock() -> OffsetClock:
    """A clock that arrivals' delays can be moved along."""
    return OffsetClock()


@pytest.fixture
def engine(lab: Lab, clock: OffsetClock) -> ScenarioEngine:
    """The engine on that lab, with the fixture scenarios."""
    assert CATALOGUE.broken == []
    return ScenarioEngine(lab, CATALOGUE, clock=clock, client_timeout=1.0)


def subjects(lab: Lab, address: str, folder: str = "INBOX") -> list[str]:
    """The subjects of a folder's messages, from the store."""
    account = lab.store.account(address)
    assert account is not None
    found = lab.store.folder(account.id, folder)
    assert found is not None
    raws = lab.store.raws(m.id for m in lab.store.messages(found.id))
    return [str(email.message_from_bytes(raw, policy=email.policy.default)["Subject"])
            for raw in raws.values()]


# -- a fresh world ----------------------------------------------------------------------


def test_start_resets_the_learners_mailbox_to_the_seed(engine: ScenarioEngine, lab: Lab) -> None:
    # What an earlier attempt left behind: a folder, a message, another password.
    account = lab.store.create_account(ADDRESS, "ancien-mot-de-passe")
    lab.store.create_folder(account.id, "Vieux dossier")
    lab.store.append(account, "INBOX", b"Subject: Ancien message\r\n\r\nx\r\n")
    for _ in range(3):
        lab.lockouts.failed(ADDRESS)

    attempt = engine.start(LEARNER, SLUG)

    assert attempt.address == ADDRESS and attempt.playing
    assert subjects(lab, ADDRESS) == ["Pièce jointe lourde"]
    assert subjects(lab, ADDRESS, "Devoirs") == ["Exercices de la semaine"]
    account = lab.store.account(ADDRESS)
    assert account is not None and account.quota_bytes == 100 * 1024
    names = {f.name for f in lab.store.folders(account.id)}
    assert "Vieux dossier" not in names and {"INBOX", "Sent", "Devoirs"} <= names
    assert lab.store.authenticate(ADDRESS, attempt.password) is not None
    assert not lab.lockouts.is_locked(ADDRESS, 3)
    assert lab.store.account(SECRETARIAT) is not None  # the shared address accepts mail
    devices = {d.id: d for d in engine.devices(attempt.id)}
    assert devices["ordinateur"].settings["outgoing.port"] == 587
    assert devices["telephone"].settings["password"] == attempt.password
    assert "outgoing.port" not in devices["telephone"].editable


def test_the_scenarios_world_applies_to_the_learners_connections_only(
    engine: ScenarioEngine, lab: Lab
) -> None:
    attempt = engine.start(LEARNER, SLUG)
    engine.change_settings(attempt.id, "ordinateur", {"incoming.host": "mail.college-essai.test"})
    outcome = engine.run(attempt.id, "ordinateur", "test_incoming")
    assert outcome.trace is not None and outcome.trace.error is not None
    assert outcome.trace.error.key == "certificate_expired"
    # The same name, typed by a client outside the scenario's world, gets the lab's own
    # certificate (which names the lab's domain, not the college's): not the expired one.
    settings = engine.client(attempt.id, "ordinateur").settings
    outside = MailClient(lab, settings, timeout=1.0)
    outside.network.names = engine.network(engine.scenario(SLUG)).names
    error = outside.test_incoming().error
    assert error is not None and error.key == "certificate_wrong_name"


# -- objectives and mistakes ---------------------------------------------------------------


def test_an_event_objective_needs_what_the_server_really_saw(engine: ScenarioEngine) -> None:
    attempt = engine.start(LEARNER, SLUG)

    # Sent to someone else: the message is delivered, but not to the office. Its copy is
    # kept in Sent, on an IMAP connection of its own that the engine follows too.
    other = engine.run(attempt.id, "ordinateur", "send", to=[ADDRESS], subject="Moi", body=".")
    assert other.trace is not None and other.trace.ok
    assert other.newly_met == ("copie-envoyee",)

    sent = engine.run(attempt.id, "ordinateur", "send", to=[SECRETARIAT], subject="Bonjour",
                      body="Bonjour madame.")
    assert sent.newly_met == ("envoi-secretariat",)
    proof = sent.attempt.proofs["envoi-secretariat"]
    assert proof["event"] == "message.delivered" and proof["device"] == "ordinateur"
    assert proof["listener"] == "submission" and proof["tls"] is True
    assert proof["data"]["recipient"] == SECRETARIAT and proof["data"]["authenticated"] is True
    assert proof["connection_id"] in sent.trace.connection_ids  # type: ignore[union-attr]


def test_an_objective_for_each_device_waits_for_both(engine: ScenarioEngine) -> None:
    attempt = engine.start(LEARNER, SLUG)
    first = engine.run(attempt.id, "ordinateur", "fetch")
    again = engine.run(attempt.id, "ordinateur", "fetch")
    assert first.newly_met == again.newly_met == ()
    phone = engine.run(attempt.id, "telephone", "fetch")
    assert phone.newly_met == ("deux-appareils",)


def test_a_failed_operation_proves_nothing_and_a_mistake_keeps_its_proof(
    engine: ScenarioEngine
) -> None:
    attempt = engine.start(LEARNER, SLUG)
    engine.change_settings(attempt.id, "ordinateur", {
        "outgoing.port": 25, "outgoing.security": "none", "outgoing.auth": "none",
        "accepted_cleartext": True,
    })
    outcome = engine.run(attempt.id, "ordinateur", "send", to=[SECRETARIAT], subject="x", body=".")

    assert outcome.trace is not None and outcome.trace.error is not None
    assert outcome.trace.error.key == "connection_timeout"  # port 25 is filtered here
    assert outcome.newly_met == () and outcome.new_mistakes == ("port-25",)
    (mistake,) = outcome.attempt.mistakes
    assert mistake.id == "port-25" and mistake.count == 1
    assert mistake.proof["source"] == "trace" and mistake.proof["port"] == 25
    assert mistake.proof["error"] == "connection_timeout" and mistake.proof["step"] == "tcp"


def test_three_failed_logins_lock_the_account_until_the_reset_page(
    engine: ScenarioEngine, lab: Lab
) -> None:
    attempt = engine.start(LEARNER, SLUG)
    engine.change_settings(attempt.id, "telephone", {"password": "mauvais"})
    keys = []
    for _ in range(4):
        trace = engine.run(attempt.id, "telephone", "test_incoming").trace
        assert trace is not None and trace.error is not None
        keys.append(trace.error.key)
    assert keys == ["wrong_credentials"] * 3 + ["account_locked"]
    attempt = engine.get(attempt.id)
    (locked,) = attempt.mistakes
    assert (locked.id, locked.count) == ("verrouillage", 2)  # the 3rd failure, then the 4th
    assert locked.proof["event"] == "auth.failed"

    old_password = attempt.password
    attempt = engine.reset_password(attempt.id)
    assert attempt.password != old_password
    engine.change_settings(attempt.id, "telephone", {"password": attempt.password})
    assert engine.run(attempt.id, "telephone", "test_incoming").trace.ok  # type: ignore[union-attr]
    assert lab.store.authenticate(ADDRESS, old_password) is None


def test_accepting_a_bad_certificate_is_recorded(engine: ScenarioEngine) -> None:
    attempt = engine.start(LEARNER, SLUG)
    engine.change_settings(attempt.id, "ordinateur", {
        "incoming.host": "mail.college-essai.test",
        "accepted_risks": ["mail.college-essai.test"],
    })
    outcome = engine.run(attempt.id, "ordinateur", "test_incoming")
    assert outcome.trace is not None and outcome.trace.ok
    assert outcome.new_mistakes == ("risque-accepte",)


def test_the_labs_own_deliveries_count_only_when_a_matcher_asks_for_them() -> None:
    bounce = EventFact(Event("quota.exceeded", 0.0, "c1", None, "smtp", False, {}), "lab")
    by_learner = EventFact(Event("quota.exceeded", 0.0, "c2", ADDRESS, "imaps", True, {}),
                           "ordinateur")
    anyone, lab_only = Matcher(event="quota.exceeded"), Matcher(event="quota.exceeded",
                                                                device="lab")
    assert (matches(anyone, bounce, {}), matches(anyone, by_learner, {})) == (False, True)
    assert (matches(lab_only, bounce, {}), matches(lab_only, by_learner, {})) == (True, False)


# -- arrivals ----------------------------------------------------------------------------


def test_an_arrival_after_a_delay_goes_straight_into_a_folder(
    engine: ScenarioEngine, lab: Lab, clock: OffsetClock
) -> None:
    attempt = engine.start(LEARNER, SLUG)
    clock.advance(29)
    assert engine.refresh(attempt.id).arrived == ()
    clock.advance(2)
    assert engine.refresh(attempt.id).arrived == (1,)
    assert engine.refresh(attempt.id).arrived == ()  # once only
    assert "Arrivé après 30 secondes" in subjects(lab, ADDRESS, "Devoirs")


def test_an_arrival_after_a_trace_comes_by_smtp_at_once(
    engine: ScenarioEngine, lab: Lab
) -> None:
    attempt = engine.start(LEARNER, SLUG)
    sent = engine.run(attempt.id, "ordinateur", "send", to=[SECRETARIAT], subject="Bonjour",
                      body=".")
    assert sent.arrived == (2,)
    account = lab.store.account(ADDRESS)
    assert account is not None
    inbox = lab.store.folder(account.id, "INBOX")
    assert inbox is not None
    last = lab.store.raw(lab.store.messages(inbox.id)[-1].id)
    assert subjects(lab, ADDRESS)[-1] == "Accusé de réception"
    # It travelled through the lab's port 25, in the scenario's world, as from outside.
    assert b"by mail.college-essai.test (PixLab) with ESMTP" in last
    assert attempt.journal == () and engine.get(attempt.id).journal[-1]["arrival"] == 2


def test_a_full_mailbox_refuses_an_arrival_until_there_is_room(
    engine: ScenarioEngine, lab: Lab, clock: OffsetClock
) -> None:
    attempt = engine.start(LEARNER, SLUG)
    engine.run(attempt.id, "telephone", "test_incoming")  # triggers the big file, in 5 s
    clock.advance(5)
    refused = engine.refresh(attempt.id)
    assert refused.arrived == () and refused.newly_met == ()
    assert refused.new_mistakes == ("boite-pleine",)  # the lab's own delivery bounced
    assert refused.attempt.mistakes[0].proof["device"] == "lab"
    assert refused.attempt.journal[-1]["why"].startswith("552")

    # The learner makes room; the lab tries again after retry_every seconds.
    heavy = lab.store.messages(lab.store.folder(lab.store.account(ADDRESS).id,  # type: ignore[union-attr]
                                                "INBOX").id)[0]  # type: ignore[union-attr]
    engine.run(attempt.id, "ordinateur", "delete", folder="INBOX", uid=heavy.uid)
    clock.advance(5)
    assert engine.refresh(attempt.id).arrived == ()
    clock.advance(5)
    delivered = engine.refresh(attempt.id)
    assert delivered.arrived == (3,)
    assert delivered.newly_met == ("gros-fichier",)
    assert delivered.attempt.proofs["gros-fichier"]["folder"] == "INBOX"


# -- devices, hints, quiz, the end -----------------------------------------------------------


def test_settings_the_learner_may_not_change_are_refused(engine: ScenarioEngine) -> None:
    attempt = engine.start(LEARNER, SLUG)
    with pytest.raises(SettingError, match="outgoing.port"):
        engine.change_settings(attempt.id, "telephone", {"outgoing.port": 465})
    with pytest.raises(SettingError):
        engine.change_settings(attempt.id, "ordinateur", {"incoming.security": "ssl"})
    with pytest.raises(KeyError):
        engine.change_settings(attempt.id, "tablette", {"password": "x"})
    engine.change_settings(attempt.id, "ordinateur", {"incoming.port": ""})
    with pytest.raises(IncompleteSettings) as missing:
        engine.run(attempt.id, "ordinateur", "fetch")
    assert missing.value.fields == ["incoming.port"]
    # The other side still works.
    assert engine.run(attempt.id, "ordinateur", "test_outgoing").trace.ok  # type: ignore[union-attr]


def test_pop3_fetches_into_the_devices_storage(engine: ScenarioEngine) -> None:
    attempt = engine.start(LEARNER, SLUG)
    engine.change_settings(attempt.id, "ordinateur", {
        "incoming.protocol": "pop3", "incoming.host": "pop.college-essai.test",
        "incoming.port": 995, "leave_on_server": "forever",
    })
    with pytest.raises(ValueError, match="storage"):
        engine.run(attempt.id, "ordinateur", "fetch")
    local = MemoryLocalMail()
    outcome = engine.run(attempt.id, "ordinateur", "fetch", local=local)
    assert outcome.trace is not None and outcome.trace.security == Security.TLS
    assert len(local.messages) == 1


def test_hints_come_one_by_one_and_stop_at_the_last(engine: ScenarioEngine) -> None:
    attempt = engine.start(LEARNER, SLUG)
    assert engine.hints(attempt.id) == []
    assert [h.fr for h in engine.reveal_hint(attempt.id)] == ["Regarde la fiche."]
    engine.reveal_hint(attempt.id)
    engine.reveal_hint(attempt.id)
    assert len(engine.reveal_hint(attempt.id)) == 3
    assert engine.get(attempt.id).hints_used == 3


def test_quiz_answers_are_judged_and_the_first_one_is_kept(engine: ScenarioEngine) -> None:
    attempt = engine.start(LEARNER, SLUG)
    wrong = engine.answer(attempt.id, "port-envoi", [1])
    assert (wrong.correct, wrong.right_choices) == (False, (2,))
    assert wrong.explanation.fr == "587 ou 465."
    assert engine.answer(attempt.id, "port-envoi", [2]).correct is False  # kept: the first
    partial = engine.answer(attempt.id, "chiffrements", [1])
    assert partial.correct is False
    assert set(engine.answers(attempt.id)) == {"port-envoi", "chiffrements"}
    with pytest.raises(KeyError):
        engine.answer(attempt.id, "inconnue", [1])


def test_giving_up_keeps_what_was_done_and_stops_counting(engine: ScenarioEngine) -> None:
    attempt = engine.start(LEARNER, SLUG)
    engine.run(attempt.id, "ordinateur", "fetch")
    engine.run(attempt.id, "telephone", "fetch")
    given_up = engine.give_up(attempt.id)
    assert given_up.status == "given-up" and given_up.ended_at is not None
    assert set(given_up.met) == {"deux-appareils"}
    later = engine.run(attempt.id, "ordinateur", "send", to=[SECRETARIAT], subject="x", body=".")
    assert later.newly_met == () and "envoi-secretariat" not in later.attempt.met


def test_retry_starts_afresh_and_progress_is_kept_per_learner(
    engine: ScenarioEngine, lab: Lab, clock: OffsetClock
) -> None:
    first = engine.start(LEARNER, SLUG)
    engine.run(first.id, "ordinateur", "send", to=[SECRETARIAT], subject="x", body=".")
    engine.run(first.id, "ordinateur", "delete", folder="INBOX", uid=1)
    second = engine.retry(first.id)

    assert second.id != first.id and second.met == {} and second.password != first.password
    assert engine.get(first.id).status == "replaced"
    clock.advance(31)  # the first attempt's 30-second arrival must not land in the new mailbox
    assert engine.refresh(first.id).arrived == ()
    assert engine.refresh(second.id).arrived == (1,)
    assert subjects(lab, ADDRESS, "Devoirs").count("Arrivé après 30 secondes") == 1
    assert subjects(lab, ADDRESS) == ["Pièce jointe lourde"]  # the seed is back
    assert engine.latest(LEARNER, SLUG) == engine.get(second.id)
    progress = engine.progress(LEARNER)[SLUG]
    assert (progress.attempts, progress.completed, progress.status) == (2, False, "playing")
    assert (progress.objectives_met, progress.objectives_total) == (0, 4)
    assert engine.progress("personne") == {}


def test_unknown_scenarios_and_learners_are_refused(engine: ScenarioEngine) -> None:
    with pytest.raises(UnknownScenario):
        engine.start(LEARNER, "premiers-pas-imap")  # not in this engine's catalogue
    with pytest.raises(ValueError):
        engine.start("Élève Sept", SLUG)


def test_concurrent_updates_are_replayed_not_lost(engine: ScenarioEngine) -> None:
    attempt = engine.start(LEARNER, SLUG)
    calls = []

    def change(record: AttemptRecord) -> None:
        calls.append(record.version)
        if len(calls) == 1:  # someone else writes while this change is being worked out
            engine.reveal_hint(attempt.id)
        record.state.quiz["note"] = {"choices": [], "correct": True, "at": 0}

    engine.attempts.update(attempt.id, change)
    assert len(calls) == 2 and calls[1] == calls[0] + 1
    record = engine.attempts.get(attempt.id)
    assert record is not None and record.hints_used == 1 and "note" in record.state.quiz


def test_a_request_reads_its_attempt_once_yet_loses_no_write_made_meanwhile(
    engine: ScenarioEngine,
) -> None:
    attempt = engine.start(LEARNER, SLUG)
    progress.begin_request()  # what the web app does for each request
    try:
        assert engine.attempts.get(attempt.id) is not None  # read, and kept for the request
        # Another request (another thread, or another process) reveals a hint meanwhile.
        other = threading.Thread(target=engine.reveal_hint, args=(attempt.id,))
        other.start()
        other.join()
        kept = engine.attempts.get(attempt.id)
        assert kept is not None and kept.hints_used == 0  # this request's one view
        # A write from the kept row conflicts on its version and is replayed on the fresh one.
        engine.attempts.update(attempt.id, lambda record: record.state.quiz.update(
            note={"choices": [], "correct": True, "at": 0}))
        after = engine.attempts.get(attempt.id)  # what this request wrote is read back
        assert after is not None and after.hints_used == 1 and "note" in after.state.quiz
    finally:
        progress.end_request()
    record = engine.attempts.get(attempt.id)
    assert record is not None and record.hints_used == 1 and "note" in record.state.quiz


def test_polls_and_operations_from_many_threads_lose_nothing(engine: ScenarioEngine) -> None:
    attempt = engine.start(LEARNER, SLUG)
    errors: list[BaseException] = []

    def poll() -> None:
        try:
            for _ in range(10):
                engine.refresh(attempt.id)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=poll) for _ in range(3)]
    for thread in threads:
        thread.start()
    engine.run(attempt.id, "ordinateur", "fetch")
    engine.run(attempt.id, "telephone", "fetch")
    for thread in threads:
        thread.join()
    assert errors == []
    assert "deux-appareils" in engine.get(attempt.id).met


def test_the_engine_never_branches_on_a_scenarios_name() -> None:
    source = (Path(__file__).resolve().parent.parent / "pixlab" / "scenarios").glob("*.py")
    slugs = [p.stem for p in (Path(__file__).resolve().parent.parent / "scenarios").glob("*.toml")]
    text = "\n".join(p.read_text() for p in source)
    for slug in [*slugs, SLUG]:
        assert slug not in text


# -- a device's own storage: local archives, POP3 downloads and doubles ----------------------

STORAGE_SCENARIO = '''
format_version = 1
slug = "stockage-essai"
level = "novice"
minutes = 5
competences = ["2.1"]
title = { fr = "Stockage", en = "Storage" }
summary = { fr = "Essai.", en = "Test." }
story = { fr = "Essai.", en = "Test." }
debrief = { fr = "Fini.", en = "Done." }

[[sheet.servers]]
role = "incoming"
protocol = "imap"
host = "imap.college-essai.test"
port = 993
security = "tls"

[lab]
domains = ["college-essai.test"]

[[lab.messages]]
from = "CDI <cdi@college-essai.test>"
subject = "Photos de la sortie"
body = "Les photos."

[[lab.messages]]
from = "CDI <cdi@college-essai.test>"
subject = "Horaires du CDI"
body = "Les horaires."

[[devices]]
id = "ordinateur"
kind = "computer"
name = { fr = "Ordinateur" }
password = "{password}"

[devices.incoming]
protocol = "imap"
host = "imap.college-essai.test"
port = 993
security = "tls"
username = "{address}"

[[devices]]
id = "portable"
kind = "computer"
name = { fr = "Portable" }
password = "{password}"
leave_on_server = "forever"
reinstall = true

[devices.incoming]
protocol = "pop3"
host = "pop.college-essai.test"
port = 995
security = "tls"
username = "{address}"

[[objectives]]
id = "archive"
text = { fr = "Archiver les photos sur l'ordinateur" }
when = { storage = "Archives locales", device = "ordinateur", subject = "Photos", at_least = 1 }

[[objectives]]
id = "telecharge"
text = { fr = "Le portable télécharge les deux messages" }
[objectives.when]
trace = "fetch"
device = "portable"
ok = true
downloaded_at_least = 2
duplicates_at_most = 0

[[mistakes]]
id = "doublons"
text = { fr = "Des doublons" }
explanation = { fr = "Tout est revenu." }
when = { trace = "fetch", device = "portable", ok = true, duplicates_at_least = 2 }

[[mistakes]]
id = "deux-fois"
text = { fr = "Le même message deux fois sur le portable" }
explanation = { fr = "Un doublon." }
when = { storage = "INBOX", device = "portable", subject = "Horaires", at_least = 2 }
'''


@pytest.fixture
def storage_engine(lab: Lab, clock: OffsetClock, tmp_path: Path) -> ScenarioEngine:
    """An engine with a scenario judged on the devices' own storage."""
    (tmp_path / "stockage-essai.toml").write_text(STORAGE_SCENARIO)
    catalogue = load_catalogue([tmp_path])
    assert catalogue.broken == []
    return ScenarioEngine(lab, catalogue, clock=clock, client_timeout=1.0)


def test_archiving_keeps_a_copy_on_the_device_and_frees_the_server(
    storage_engine: ScenarioEngine, lab: Lab
) -> None:
    attempt = storage_engine.start(LEARNER, "stockage-essai")
    address = attempt.address
    local = MemoryLocalMail()
    photos = lab.store.messages(lab.store.folder(lab.store.account(address).id,  # type: ignore[union-attr]
                                                 "INBOX").id)[0]  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="storage"):
        storage_engine.run(attempt.id, "ordinateur", "archive", uid=photos.uid,
                           target="Archives locales")

    outcome = storage_engine.run(attempt.id, "ordinateur", "archive", local=local,
                                 uid=photos.uid, target="Archives locales")

    assert outcome.trace is not None and outcome.trace.operation == "delete" and outcome.trace.ok
    assert outcome.newly_met == ("archive",)
    proof = outcome.attempt.proofs["archive"]
    assert (proof["source"], proof["device"], proof["messages"]) == ("storage", "ordinateur", 1)
    assert subjects(lab, address) == ["Horaires du CDI"]  # gone from the server
    assert b"Photos de la sortie" in local.local_folders()["Archives locales"][0]


def test_a_local_change_is_judged_when_the_page_reports_it(
    storage_engine: ScenarioEngine, lab: Lab
) -> None:
    attempt = storage_engine.start(LEARNER, "stockage-essai")
    local = MemoryLocalMail()
    storage_engine.run(attempt.id, "ordinateur", "fetch", local=local)
    assert "archive" not in storage_engine.get(attempt.id).met
    raw = lab.store.raws(m.id for m in lab.store.messages(lab.store.folder(
        lab.store.account(attempt.address).id, "INBOX").id))  # type: ignore[union-attr]
    local.keep_copy("Archives locales", next(iter(raw.values())))  # moved on the device alone
    assert storage_engine.storage_changed(attempt.id, "ordinateur", local).newly_met == (
        "archive",)


def test_a_reinstalled_pop3_program_downloads_everything_again(
    storage_engine: ScenarioEngine,
) -> None:
    attempt = storage_engine.start(LEARNER, "stockage-essai")
    local = MemoryLocalMail()
    first = storage_engine.run(attempt.id, "portable", "fetch", local=local)
    assert first.newly_met == ("telecharge",) and first.new_mistakes == ()
    again = storage_engine.run(attempt.id, "portable", "fetch", local=local)
    assert again.trace is not None and again.trace.result["downloaded"] == []  # it remembers

    storage_engine.reinstall(attempt.id, "portable", local)
    doubled = storage_engine.run(attempt.id, "portable", "fetch", local=local)

    assert doubled.trace is not None and len(doubled.trace.result["downloaded"]) == 2
    assert set(doubled.new_mistakes) == {"doublons", "deux-fois"}
    assert len(local.local_folders()["INBOX"]) == 4
    assert doubled.attempt.journal[-2]["operation"] == "reinstall"
    # Once downloaded again, the UIDs are known: the next fetch brings nothing.
    after = storage_engine.run(attempt.id, "portable", "fetch", local=local)
    assert after.trace is not None and after.trace.result["downloaded"] == []


def test_storage_matchers_and_steps_are_checked(tmp_path: Path) -> None:
    broken = (STORAGE_SCENARIO
              .replace('storage = "Archives locales", device = "ordinateur"',
                       'storage = "Archives locales"')
              .replace("reinstall = true\n", "")
              .replace('trace = "fetch", device = "portable", ok = true, duplicates_at_least',
                       'trace = "list", device = "portable", ok = true, duplicates_at_least'))
    broken += '''
[walkthrough]
expected_mistakes = ["doublons"]
[[walkthrough.solution]]
device = "ordinateur"
do = "archive"
message = "Photos"
[[walkthrough.mistake]]
device = "portable"
do = "reinstall"
'''
    (tmp_path / "stockage-essai.toml").write_text(broken)
    (entry,) = load_catalogue([tmp_path]).broken
    text = "\n".join(entry.lines())
    assert "objectives[1].when.device" in text and "belongs to one device" in text
    assert "mistakes[1].when.downloaded_at_least" in text
    assert "walkthrough.solution[1].target" in text
    assert "walkthrough.mistake[1].do" in text and "reinstall = true" in text


def test_an_attempts_document_is_what_asdict_made_of_it() -> None:
    """to_json skips asdict's deep copy; the document stays the same, nested dataclasses and
    values JSON cannot write included."""
    import json
    from dataclasses import asdict, dataclass

    from pixlab.scenarios.progress import AttemptState

    @dataclass
    class Proof:
        connection: str
        at: float

    state = AttemptState(
        devices={"ordinateur": {"incoming_port": 993, "risks": ("a", "b")}},
        met={"connexion": 12.5}, proofs={"connexion": {"proof": Proof("c1", 3.0)}},
        journal=[{"operation": "test", "ok": False, "when": object.__new__(type("T", (), {
            "__str__": lambda self: "quand"}))}],
        programs_seen=4, password_before_fault="Crayon-1",
    )
    assert state.to_json() == json.dumps(asdict(state), ensure_ascii=False, default=str)
    assert AttemptState.from_json(state.to_json()).proofs["connexion"]["proof"] == {
        "connection": "c1", "at": 3.0}
