"""The table of check cases: for every code, flows that must report it (at
these lines and columns) and flows that must not. Read by test_checks.py.

A case's `at` lists every (line, column) where its code must be reported,
and no others; a passing case (`at=()`) must not report the code at all.
A case with `files` is checked as a file on disk (case.ivr) with those
files beside it, for `include`; its positions may be in any of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from textwrap import dedent


@dataclass(frozen=True)
class Case:
    code: str
    name: str
    source: str
    at: tuple[tuple[int, int], ...] = ()
    files: tuple[tuple[str, str], ...] | None = None  # (name, text) beside case.ivr

    @property
    def passes(self) -> bool:
        return not self.at


def case(code: str, name: str, source: str, *at: tuple[int, int], files: dict[str, str] | None = None) -> Case:
    written = None if files is None else tuple((n, dedent(t).lstrip("\n")) for n, t in files.items())
    return Case(code, name, dedent(source).lstrip("\n"), at, written)


def with_clean(extra: str) -> str:
    """CLEAN (8 lines), then `extra`: its first line is line 9."""
    return dedent(CLEAN).lstrip("\n") + dedent(extra).lstrip("\n")


# A small flow with no problem at all: every passing case builds on it.
CLEAN = """
prompt hi say "Hello. Press 1 for sales."
menu main {
    play hi
    press 1 -> transfer "100"
    on timeout -> repeat
    on invalid -> repeat
    on exhausted -> hangup
}
"""

# A menu (`pin`) that only the answer of an `ask` leads to; clean as it is.
ASKS = dedent("""
    prompt hi say "Hello. Press 1 for sales, 9 for your account."
    prompt enter_pin say "Enter your PIN."
    menu main {
        play hi
        press 1 -> transfer "100"
        press 9 -> ask "https://crm.example.com/route" -> goto pin | repeat | transfer "200"
        on timeout -> repeat
        on invalid -> repeat
        on exhausted -> hangup
    }
    menu pin {
        play enter_pin
        press 1 -> hangup
        on timeout -> repeat
        on invalid -> repeat
        on exhausted -> hangup
    }
    """).lstrip("\n")

CASES = [
    # --- IVR001 syntax ------------------------------------------------------------------
    case("IVR001", "missing arrow", """
        menu main {
            press 1 goto main
        }
        """, (2, 13)),
    case("IVR001", "unclosed block", """
        menu main {
            press 1 -> hangup
        """, (2, 22)),
    case("IVR001", "hash key without quotes", """
        menu main {
            press # -> hangup
        }
        """, (2, 11)),
    case("IVR001", "clean", CLEAN),
    # --- IVR002 undefined names ------------------------------------------------------------
    case("IVR002", "goto nowhere", """
        prompt hi say "Hi"
        menu main {
            play hi
            press 1 -> goto billing
            on timeout -> repeat
            on invalid -> repeat
        }
        """, (4, 21)),
    case("IVR002", "play a menu", """
        menu main {
            play main
            press 1 -> hangup
        }
        """, (2, 10)),
    case("IVR002", "start and open", """
        flow f {
            start entry
        }
        route r {
            when open office -> hangup
            otherwise -> hangup
        }
        """, (2, 5), (5, 15)),
    case("IVR002", "clean", CLEAN),
    # --- IVR003 duplicates --------------------------------------------------------------------
    case("IVR003", "menu and prompt share a name", """
        prompt main say "Hi"
        menu main {
            play main
            press 1 -> hangup
        }
        """, (2, 6)),
    case("IVR003", "two tests with one name", with_clean("""
        test "t" {
            press 1
            expect transfer "100"
        }
        test "t" {
            press 1
            expect transfer "100"
        }
        """), (13, 6)),
    case("IVR003", "clean", CLEAN),
    # --- IVR004 values --------------------------------------------------------------------------
    case("IVR004", "bad units, times, zones, masks", """
        hours h {
            timezone "Mars/Olympus"
            mon 18:00-09:00
        }
        route r {
            when caller "12-345" -> hangup
            otherwise -> transfer "not a number"
        }
        menu m {
            timeout 5sec
            digits 0
            press 1 -> ask "ftp://x"
        }
        """, (2, 14), (3, 5), (6, 10), (7, 18), (10, 13), (11, 12), (12, 16)),
    case("IVR004", "an answer delay of hours, a duration beyond a day", """
        flow f {
            answer-delay 10h
            max-duration 99999999999999999999h -> hangup
        }
        prompt hi say "Hi"
        menu main {
            play hi
            press 1 -> hangup
            on timeout -> repeat
            on invalid -> repeat
            on exhausted -> hangup
        }
        """, (2, 18), (3, 18)),
    case("IVR004", "a zone name longer than any (the file system would refuse it)", f"""
        hours h {{
            timezone "{'x/' * 400}x"
            mon 09:00-10:00
        }}
        route r {{
            when open h -> hangup
            otherwise -> hangup
        }}
        """, (2, 14)),
    case("IVR004", "test times", with_clean("""
        test "t" {
            at "tomorrow"
            press 1
            expect transfer "100"
        }
        """), (10, 8)),
    case("IVR004", "clean", with_clean("""
        hours h {
            timezone "Europe/Paris"
            mon-fri 09:00-12:00, 14:00-18:00
            sat 10:00-24:00
            closed 2026-12-25
        }
        """)),
    # --- IVR005 repeated settings ------------------------------------------------------------
    case("IVR005", "timeout twice, on invalid twice", """
        menu m {
            timeout 5s
            timeout 8s
            press 1 -> hangup
            on invalid -> hangup
            on invalid -> repeat
        }
        """, (3, 5), (6, 5)),
    case("IVR005", "clean", CLEAN),
    # --- IVR006 suppressions ---------------------------------------------------------------------
    case("IVR006", "silences nothing, unknown code, an error", """
        prompt hi say "Hi"
        menu main {  # ivrflow: ignore[IVR119]
            play hi  # ivrflow: ignore[IVR999]
            press 1 -> goto nowhere  # ivrflow: ignore[IVR002]
            on timeout -> repeat
            on invalid -> repeat
            on exhausted -> hangup
        }
        """, (2, 14), (3, 14), (4, 30)),
    case("IVR006", "a used suppression, on its own line", """
        prompt hi say "Hi"
        # ivrflow: ignore[IVR105]
        menu main {
            play hi
            press 1 -> hangup
            on timeout -> repeat
            on invalid -> repeat
        }
        """),
    # --- IVR101 unreachable ---------------------------------------------------------------------
    case("IVR101", "a menu nobody goes to", with_clean("""
        menu lost {
            play hi
            press 1 -> hangup
        }
        """), (9, 6)),
    case("IVR101", "clean", CLEAN),
    # --- IVR102 no terminal action ------------------------------------------------------------
    case("IVR102", "plays then nothing", """
        prompt hi say "Hi"
        menu main {
            play hi
            press 1 -> play hi
            on timeout -> repeat
            on invalid -> play hi
        }
        """, (4, 16), (6, 19)),
    case("IVR102", "clean", CLEAN),
    # --- IVR103 traps -------------------------------------------------------------------------------
    case("IVR103", "two menus that only send callers to each other", """
        prompt hi say "Hi"
        menu a {
            play hi
            press 1 -> goto b
            on timeout -> goto b
            on invalid -> goto b
        }
        menu b {
            play hi
            press 1 -> goto a
            on timeout -> goto a
            on invalid -> goto a
        }
        """, (2, 6)),  # one diagnostic per trap, at its first menu
    case("IVR103", "repeat lets on exhausted run", """
        prompt hi say "Hi"
        menu a {
            play hi
            press 1 -> goto a
            on timeout -> repeat
            on invalid -> repeat
        }
        """),
    # --- IVR104 / IVR105 defaults ------------------------------------------------------------------
    case("IVR104", "no on timeout", """
        prompt hi say "Hi"
        menu main {
            play hi
            press 1 -> hangup
            on invalid -> hangup
        }
        """, (2, 6)),
    case("IVR104", "clean", CLEAN),
    case("IVR105", "repeats without on exhausted", """
        prompt hi say "Hi"
        menu main {
            play hi
            press 1 -> hangup
            on timeout -> repeat
            on invalid -> hangup
        }
        """, (2, 6)),
    case("IVR105", "never repeats, so never exhausted", """
        prompt hi say "Hi"
        menu main {
            play hi
            press 1 -> hangup
            on timeout -> transfer "0"
            on invalid -> hangup
        }
        """),
    # --- IVR106 duplicate keys -----------------------------------------------------------------------
    case("IVR106", "key 1 twice", """
        prompt hi say "Hi"
        menu main {
            play hi
            press 1 -> hangup
            press 1 -> transfer "100"
        }
        """, (5, 11)),
    case("IVR106", "clean", CLEAN),
    # --- IVR107 actions after the terminal one ---------------------------------------------------------
    case("IVR107", "play after hangup", """
        prompt hi say "Hi"
        menu main {
            play hi
            press 1 -> hangup, play hi
        }
        """, (4, 24)),
    case("IVR107", "clean", CLEAN),
    # --- IVR108 repeat outside a menu ----------------------------------------------------------------
    case("IVR108", "repeat in a route", """
        route r {
            otherwise -> repeat
        }
        """, (2, 18)),
    case("IVR108", "clean", CLEAN),
    case("IVR123", "repeat when the retries are used up", """
        prompt hi say "Hi"
        menu main {
            play hi
            press 1 -> hangup
            on timeout -> repeat
            on invalid -> repeat
            on exhausted -> repeat
        }
        """, (7, 21)),
    case("IVR123", "clean", CLEAN),
    case("IVR127", "an empty file", "", (1, 1)),
    case("IVR127", "only a prompt", """
        flow hello {
            language en-GB
        }
        prompt hi say "Hi"
        """, (1, 6)),
    case("IVR127", "clean", CLEAN),
    # --- IVR109 / IVR110 key lengths ---------------------------------------------------------------
    case("IVR109", "key longer than digits", """
        prompt hi say "Hi"
        menu main {
            play hi
            digits 2
            press 100 -> hangup
        }
        """, (5, 11)),
    case("IVR109", "clean", CLEAN),
    case("IVR110", "1 is the start of 12", """
        prompt hi say "Hi"
        menu main {
            play hi
            press 1 -> hangup
            press 12 -> hangup
        }
        """, (4, 11)),
    case("IVR110", "keys of one length", CLEAN),
    # --- IVR111 dial-extensions ------------------------------------------------------------------------
    case("IVR111", "an entry ends after one key", """
        prompt hi say "Hi"
        menu main {
            play hi
            dial-extensions
            press 1 -> hangup
        }
        """, (4, 5)),
    case("IVR111", "three-digit extensions", """
        prompt hi say "Hi"
        menu main {
            play hi
            digits 3
            dial-extensions
            press 1 -> hangup
        }
        """),
    # --- IVR112 audio files ----------------------------------------------------------------------------
    case("IVR112", "the file is not there", """
        prompt hi file "missing.wav"
        menu main {
            play hi
            press 1 -> hangup
        }
        """, (1, 16)),
    case("IVR112", "the file is there", """
        prompt hi file "present.wav"
        menu main {
            play hi
            press 1 -> hangup
        }
        """),
    case("IVR124", "a file outside the flow's folder", """
        prompt hi file "/etc/passwd"
        menu main {
            play hi
            press 1 -> hangup
        }
        """, (1, 16)),
    case("IVR124", "a file inside the flow's folder", """
        prompt hi file "present.wav"
        menu main {
            play hi
            press 1 -> hangup
        }
        """),
    case("IVR125", "a directory", """
        prompt hi file "prompts"
        menu main {
            play hi
            press 1 -> hangup
        }
        """, (1, 16)),
    case("IVR125", "a regular file", """
        prompt hi file "present.wav"
        menu main {
            play hi
            press 1 -> hangup
        }
        """),
    case("IVR126", "a file that is too large to read", """
        prompt hi file "huge.wav"
        menu main {
            play hi
            press 1 -> hangup
        }
        """, (1, 16)),
    case("IVR126", "a readable file of a sensible size", """
        prompt hi file "present.wav"
        menu main {
            play hi
            press 1 -> hangup
        }
        """),
    case("IVR126", "a name longer than the system allows", """
        prompt hi file "name-too-long.wav"
        menu main {
            play hi
            press 1 -> hangup
        }
        """, (1, 16)),
    # --- IVR113 unused ---------------------------------------------------------------------------------
    case("IVR113", "a prompt and hours nobody uses", with_clean("""
        prompt bye say "Bye"
        hours office {
            timezone "UTC"
            mon 09:00-17:00
        }
        """), (9, 8), (10, 7)),
    case("IVR113", "clean", CLEAN),
    # --- IVR114 announced keys -------------------------------------------------------------------------
    case("IVR114", "the prompt offers 2, the menu has no 2", """
        prompt hi say "For sales press 1, for support press 2."
        menu main {
            play hi
            press 1 -> hangup
        }
        """, (3, 5)),
    case("IVR114", "clean", CLEAN),
    case("IVR114", "one warning for a prompt played twice that offers 2 and 3", """
        prompt hi say "For sales press 1, for support press 2, for billing press 3. Again: press 2."
        menu main {
            play hi
            play hi
            press 1 -> hangup
        }
        """, (3, 5)),
    case("IVR114", "a Spanish flow: oprima dos, marque la tecla de asterisco", """
        flow f {
            language es-MX
        }
        prompt hola say "Para ventas oprima uno. Para soporte, oprima dos. Para volver, marque la tecla de asterisco."
        menu main {
            play hola
            press 1 -> hangup
        }
        """, (6, 5)),
    case("IVR114", "a French prompt in an English flow: appuyez sur deux", """
        prompt bonjour say "Pour les ventes, appuyez sur un. Pour le support, tapez deux." language fr-FR
        menu main {
            play bonjour
            press 1 -> hangup
        }
        """, (3, 5)),
    case("IVR114", "German and Russian: drücken Sie die Raute, нажмите два", """
        flow f {
            language de-DE
        }
        prompt hallo say "Für den Verkauf drücken Sie die Eins. Zurück: drücken Sie die Raute."
        prompt privet say "Для продаж нажмите один. Для поддержки нажмите два." language ru-RU
        menu main {
            play hallo
            play privet
            press 1 -> hangup
        }
        """, (7, 5), (8, 5)),
    case("IVR114", "number words that are not keys: one of, un numéro, eine Option", """
        flow f {
            language fr-CA
        }
        prompt hi say "Please select one of the options. Tapez un numéro de dossier. Sinon, tapez deux."
        menu main {
            play hi
            press 2 -> hangup
        }
        """),
    # --- IVR115 silence loops ---------------------------------------------------------------------------
    case("IVR115", "timeouts that goto each other", """
        prompt hi say "Hi"
        menu a {
            play hi
            press 1 -> hangup
            on timeout -> goto b
            on invalid -> hangup
        }
        menu b {
            play hi
            press 1 -> hangup
            on timeout -> goto a
            on invalid -> hangup
        }
        """, (5, 5)),
    case("IVR115", "clean", CLEAN),
    # --- IVR116 otherwise ---------------------------------------------------------------------------------
    case("IVR116", "no otherwise; when after otherwise", """
        route r {
            when caller "ALL" -> hangup
        }
        route s {
            otherwise -> hangup
            when caller "1" -> hangup
        }
        """, (1, 7), (6, 5)),
    case("IVR116", "clean", """
        route r {
            when caller "ALL" -> hangup
            otherwise -> hangup
        }
        """),
    # --- IVR117 too many options ---------------------------------------------------------------------------
    case("IVR117", "ten keys", """
        prompt hi say "Hi"
        menu main {
            play hi
            press 0 -> hangup
            press 1 -> hangup
            press 2 -> hangup
            press 3 -> hangup
            press 4 -> hangup
            press 5 -> hangup
            press 6 -> hangup
            press 7 -> hangup
            press 8 -> hangup
            press 9 -> hangup
        }
        """, (2, 6)),
    case("IVR117", "clean", CLEAN),
    # --- IVR118 depth -------------------------------------------------------------------------------------
    case("IVR118", "six menus deep", """
        prompt hi say "Hi"
        menu m1 {
            play hi
            press 1 -> goto m2
        }
        menu m2 {
            play hi
            press 1 -> goto m3
        }
        menu m3 {
            play hi
            press 1 -> goto m4
        }
        menu m4 {
            play hi
            press 1 -> goto m5
        }
        menu m5 {
            play hi
            press 1 -> goto m6
        }
        menu m6 {
            play hi
            press 1 -> hangup
        }
        """, (22, 6)),
    case("IVR118", "clean", CLEAN),
    case("IVR118", "six menus deep, one step through an answer of ask", """
        prompt hi say "Hi"
        menu m1 {
            play hi
            press 1 -> goto m2
        }
        menu m2 {
            play hi
            press 1 -> ask "https://crm.example.com/route" -> goto m3
        }
        menu m3 {
            play hi
            press 1 -> goto m4
        }
        menu m4 {
            play hi
            press 1 -> goto m5
        }
        menu m5 {
            play hi
            press 1 -> goto m6
        }
        menu m6 {
            play hi
            press 1 -> hangup
        }
        """, (22, 6)),
    # --- IVR119 no prompt -------------------------------------------------------------------------------------
    case("IVR119", "a silent menu", """
        menu main {
            press 1 -> hangup
        }
        """, (1, 6)),
    case("IVR119", "clean", CLEAN),
    # --- IVR120 tests that cannot fail ---------------------------------------------------------------------
    case("IVR120", "no expect", with_clean("""
        test "nothing" {
            press 1
        }
        """), (9, 6)),
    case("IVR120", "clean", with_clean("""
        test "sales" {
            press 1
            expect transfer "100"
        }
        """)),
    # --- IVR121 hours --------------------------------------------------------------------------------------
    case("IVR121", "overlapping ranges, no time zone, never open", """
        hours a {
            mon-fri 09:00-17:00
            mon 12:00-13:00
        }
        hours b {
            timezone "UTC"
        }
        route r {
            when open a -> hangup
            when open b -> hangup
            otherwise -> hangup
        }
        """, (1, 7), (3, 5), (5, 7)),
    case("IVR121", "clean", """
        hours a {
            timezone "Europe/Berlin"
            mon-fri 09:00-12:00, 13:00-17:00
        }
        route r {
            when open a -> hangup
            otherwise -> hangup
        }
        """),
    # --- IVR122 instant loops -------------------------------------------------------------------------------
    case("IVR122", "routes that goto each other", """
        route a {
            when caller "1*" -> goto b
            otherwise -> hangup
        }
        route b {
            when caller "2*" -> goto a
            otherwise -> hangup
        }
        """, (1, 7)),
    case("IVR122", "clean", """
        route a {
            when caller "1*" -> goto b
            otherwise -> hangup
        }
        route b {
            otherwise -> hangup
        }
        """),
    # --- declared answers of `ask` (issue 11) ----------------------------------------------------------------
    case("IVR101", "a menu reached only through an answer of ask", ASKS),
    case("IVR101", "a menu the ask does not declare", ASKS.replace("goto pin | ", ""), (11, 6)),
    case("IVR002", "an ask answers with a menu that does not exist", """
        prompt hi say "Hi"
        menu main {
            play hi
            press 9 -> ask "https://crm.example.com/route" -> goto main | goto pinn
        }
        """, (4, 72)),
    case("IVR004", "an ask answers with a transfer to nonsense", """
        prompt hi say "Hi"
        menu main {
            play hi
            press 9 -> ask "https://crm.example.com/route" -> transfer "sales desk"
        }
        """, (4, 55)),
    case("IVR103", "an ask whose answers only lead into a trap", """
        prompt hi say "Hi"
        menu a {
            play hi
            press 1 -> ask "https://crm.example.com/route" -> goto b
            on timeout -> goto b
            on invalid -> goto b
        }
        menu b {
            play hi
            press 1 -> goto a
            on timeout -> goto a
            on invalid -> goto a
        }
        """, (2, 6)),
    case("IVR103", "an ask that may also hang up", """
        prompt hi say "Hi"
        menu a {
            play hi
            press 1 -> ask "https://crm.example.com/route" -> goto b | hangup
            on timeout -> goto b
            on invalid -> goto b
        }
        menu b {
            play hi
            press 1 -> goto a
            on timeout -> goto a
            on invalid -> goto a
        }
        """),
    case("IVR108", "an ask in a route that may answer repeat", """
        prompt hi say "Hi"
        menu main {
            play hi
            press 1 -> hangup
        }
        route entry {
            otherwise -> ask "https://crm.example.com/route" -> goto main | repeat
        }
        """, (7, 69)),
    case("IVR115", "a silent caller sent round by an ask", """
        prompt hi say "Hi"
        menu a {
            play hi
            press 1 -> hangup
            on timeout -> ask "https://crm.example.com/route" -> goto b
            on invalid -> hangup
        }
        menu b {
            play hi
            press 1 -> hangup
            on timeout -> goto a
            on invalid -> hangup
        }
        """, (5, 5)),
    case("IVR128", "a test answers what the ask does not declare", ASKS + dedent("""
        test "the service sends the caller to sales" {
            press 9
            answer transfer "300"
            expect transfer "300"
        }
        """), (21, 12)),
    case("IVR128", "a test answers what the ask declares", ASKS + dedent("""
        test "the service asks for the PIN" {
            press 9
            answer goto pin
            expect goto pin
        }
        test "the service sends the caller back" {
            press 9
            answer repeat
            expect goto main
        }
        """)),
]


# --- the second edition (issue 12) ------------------------------------------------------------------
# A bank line with every new kind of node, clean as it is: passing cases use it, failing ones change a line.
BANK = dedent("""
    flow bank {
        language en-US
        languages en-US, es-US
        start account
    }
    prompt hi {
        en-US say "Enter your account number, then press the pound key. For Spanish press 9."
        es-US say "Marque su número de cuenta."
    }
    prompt total say "Your balance is {balance}."
    collect account {
        play hi
        digits 4-8
        end-key "#"
        on done -> goto find
        on timeout -> repeat
        on invalid -> replay
        on exhausted -> hangup
    }
    lookup find "https://bank.example.com/balance" {
        send account
        receive balance
        on done -> goto result
        on error -> transfer "200"
    }
    route result {
        when balance < 0 -> transfer "300"
        otherwise -> play total, set seen = "{account}", hangup
    }
    """).lstrip("\n")
# Hours to include.
OFFICE = 'hours office {\n    timezone "UTC"\n    mon 09:00-17:00\n}\n'
# BANK's lines, for the cases below: 11 collect, 20 lookup, 26 route.

SECOND_EDITION = [
    # --- IVR007, IVR008 includes ---------------------------------------------------------------------
    case("IVR007", "an included file that is not there", 'include "missing.ivr"\n' + CLEAN, (1, 9), files={}),
    case("IVR007", "an included file beside the flow", """
        include "common.ivr"
        prompt hi say "Hello. Press 1 for sales."
        menu main {
            play hi
            play sorry
            press 1 -> transfer "100"
            on timeout -> repeat
            on invalid -> repeat
            on exhausted -> hangup
        }
        """, files={"common.ivr": 'prompt sorry say "Sorry."\n'}),
    case("IVR008", "two files that include each other", 'include "other.ivr"\n' + CLEAN, (1, 9),
         files={"other.ivr": 'include "case.ivr"\nprompt sorry say "Sorry."\n'}),
    case("IVR008", "two files that include a third (not a cycle)", 'include "a.ivr"\ninclude "b.ivr"\n' + CLEAN,
         files={"a.ivr": 'include "c.ivr"\n', "b.ivr": 'include "c.ivr"\n', "c.ivr": OFFICE}),
    case("IVR003", "a name defined in two files", 'include "common.ivr"\n' + CLEAN, (1, 8),
         files={"common.ivr": 'prompt hi say "Hi there."\n'}),
    case("IVR113", "what an included file lends is not reported unused", 'include "common.ivr"\n' + CLEAN,
         files={"common.ivr": 'prompt sorry say "Sorry."\n' + OFFICE}),
    case("IVR113", "a file only meant to be included", """
        prompt sorry say "Sorry."
        hours office {
            timezone "UTC"
            mon 09:00-17:00
        }
        """),
    case("IVR127", "a file only meant to be included", """
        prompt sorry say "Sorry."
        prompt closed say "We are closed."
        """),
    # --- existing checks that know collects and lookups ------------------------------------------------
    case("IVR002", "goto a collect, a lookup's done to a route", BANK),
    case("IVR002", "a test answers a lookup that does not exist", BANK + dedent("""
        test "t" {
            answer fnd balance="1"
            press 1234
            expect hangup
        }
        """), (32, 12)),
    case("IVR002", "goto a prompt says what it should be", BANK.replace("goto result", "goto total"), (23, 21)),
    case("IVR101", "a collect nobody goes to", BANK + dedent("""
        collect pin {
            play hi
            on done -> hangup
        }
        """), (31, 9)),
    case("IVR104", "a collect without on timeout", BANK.replace("    on timeout -> repeat\n", ""), (11, 9)),
    case("IVR104", "clean", BANK),
    case("IVR105", "a collect that repeats without on exhausted", BANK.replace("    on exhausted -> hangup\n", ""),
         (11, 9)),
    case("IVR105", "clean", BANK),
    case("IVR108", "repeat and replay in a collect", BANK),
    case("IVR108", "replay in a route", BANK.replace('otherwise -> play total, set seen = "{account}", hangup',
                                                     "otherwise -> replay"), (28, 18)),
    case("IVR123", "replay when the retries are used up", BANK.replace("on exhausted -> hangup",
                                                                       "on exhausted -> replay"), (18, 21)),
    case("IVR119", "a collect that plays nothing", BANK.replace("    play hi\n", ""), (11, 9)),
    case("IVR120", "a test that expects a language", BANK + dedent("""
        test "t" {
            expect language en-US
        }
        """)),
    case("IVR005", "a lookup's on done twice", BANK.replace("on error", "on done"), (24, 5)),
    case("IVR004", "a lookup's address, a ring time and a condition", BANK.replace(
        '"https://bank.example.com/balance"', '"bank.example.com"').replace(
        'transfer "300"', 'transfer "300" ring 5sec else hangup').replace(
        'when balance < 0', 'when caller "12-3" and balance < 0'), (20, 13), (27, 10), (27, 63)),
    case("IVR103", "a line that ends by max-duration is no trap", """
        flow info {
            max-duration 10m -> hangup
        }
        prompt hours say "We are open 9 to 5."
        menu main {
            play hours
            press 1 -> replay
            on timeout -> repeat
            on invalid -> repeat
            on exhausted -> goto main
        }
        """),
    case("IVR103", "max-duration that leads back into the trap", """
        flow info {
            max-duration 10m -> goto main
        }
        prompt hours say "We are open 9 to 5."
        menu main {
            play hours
            press 1 -> replay
            on timeout -> repeat
            on invalid -> repeat
            on exhausted -> goto main
        }
        """, (5, 6)),
    case("IVR132", "only max-duration or the caller ends the call", """
        flow info {
            max-duration 10m -> hangup
        }
        prompt hours say "We are open 9 to 5."
        menu main {
            play hours
            press 1 -> replay
            on timeout -> repeat
            on invalid -> repeat
            on exhausted -> goto main
        }
        """, (5, 6)),
    case("IVR132", "a key ends the call", """
        flow info {
            max-duration 10m -> hangup
        }
        prompt hours say "We are open 9 to 5."
        menu main {
            play hours
            press 1 -> replay
            press 0 -> transfer "100"
            on timeout -> repeat
            on invalid -> repeat
            on exhausted -> goto main
        }
        """),
    case("IVR115", "replay on timeout plays the menu forever", """
        prompt hi say "Hi. Press 1 for sales."
        menu main {
            play hi
            press 1 -> transfer "100"
            on timeout -> replay
            on invalid -> repeat
            on exhausted -> hangup
        }
        """, (5, 5)),
    case("IVR122", "a lookup that asks again when it fails", BANK.replace('on error -> transfer "200"',
                                                                          "on error -> replay"), (20, 8)),
    case("IVR122", "clean", BANK),
    # --- keys: ranges, patterns, the end key ------------------------------------------------------------
    case("IVR110", "a key that starts entries of a range", """
        prompt hi say "Press 1 for your account, or dial an extension."
        menu main {
            play hi
            end-key "#"
            press 1 -> hangup
            press 1000-1019 -> transfer "{key}"
            press "7XXX" -> transfer "{key}"
        }
        """, (5, 11)),
    case("IVR110", "entries of a pattern that start an exact key", """
        prompt hi say "Press 1 for your account, or dial an extension."
        menu main {
            play hi
            press "2X" -> hangup
            press 205 -> transfer "205"
        }
        """, (4, 11)),
    case("IVR109", "a pattern longer than digits", """
        prompt hi say "Dial an extension."
        menu main {
            play hi
            digits 3
            press "7XXX" -> transfer "{key}"
            press 1000-1019 -> transfer "{key}"
        }
        """, (5, 11), (6, 11)),
    case("IVR013", "ranges and patterns that take the same entries", """
        prompt hi say "Dial an extension."
        menu main {
            play hi
            press 1000-1019 -> transfer "{key}"
            press "10XX" -> transfer "{key}"
            press 1015-1030 -> transfer "{key}"
            press "1X" -> hangup
            press "X1" -> hangup
            press 20-29 -> hangup
            press "N9" -> hangup
        }
        """, (5, 11), (6, 11), (8, 11), (9, 11), (10, 11)),
    case("IVR013", "apart, and exact keys inside a range", """
        prompt hi say "Dial an extension."
        menu main {
            play hi
            press 1000-1019 -> transfer "{key}"
            press 1020-1029 -> transfer "{key}"
            press 1005 -> hangup
            press "7XXX" -> transfer "{key}"
            press "1X" -> hangup
            press 20-29 -> hangup
            press "3Z" -> hangup
            press 30-30 -> hangup
            press "*X" -> hangup
        }
        """),
    case("IVR014", "the end key is a key; a key with the end key in it", """
        prompt hi say "Press 1 for sales."
        menu main {
            play hi
            end-key "#"
            press 1 -> hangup
            press "#" -> hangup
            press "1#" -> hangup
            press "*X" -> hangup
        }
        """, (6, 11), (7, 11)),
    case("IVR014", "clean", BANK),
    case("IVR114", "a variant that offers a key the menu lacks; an entry of a range is offered", """
        flow f {
            language en-US
            languages en-US, es-US
        }
        prompt hi {
            en-US say "For sales press 1. To reach Ann, dial 1005."
            es-US say "Para ventas oprima 1. Para soporte oprima 5."
        }
        menu main {
            play hi
            press 1 -> hangup
            press 1000-1019 -> transfer "{key}"
        }
        """, (10, 5)),
    case("IVR114", "a collect's prompt may name its end key", BANK),
    # --- IVR009 unknown variables --------------------------------------------------------------------------
    case("IVR009", "names nothing sets", BANK.replace("{balance}", "{balanse}").replace(
        "send account", "send acount").replace("when balance <", "when balanse <"), (10, 35), (21, 10), (27, 10)),
    case("IVR009", "clean", BANK),
    case("IVR009", "built-ins and set variables", """
        prompt hi say "You are calling from {caller} in {language}. Press 1."
        menu main {
            play hi
            press 1 -> set last = "{key}", transfer "{last}"
        }
        """),
    # --- IVR010 statements not allowed here ------------------------------------------------------------------
    case("IVR010", "what a collect, a menu and a lookup cannot say", BANK.replace(
        "    digits 4-8\n",
        "    digits 4-8\n    press 1 -> hangup\n    dial-extensions\n    on error -> hangup\n").replace(
        '    on error -> transfer "200"\n', '    on error -> transfer "200"\n    on timeout -> repeat\n') + dedent("""
        menu main {
            play hi
            digits 2-4
            press 1 -> set key = "2", goto account
            on done -> hangup
        }
        """), (14, 5), (15, 5), (16, 5), (28, 5), (28, 19), (37, 5), (38, 20), (39, 5)),
    case("IVR010", "clean", BANK),
    # --- IVR011, IVR012 languages ----------------------------------------------------------------------------
    case("IVR011", "a language the flow does not list", BANK.replace(
        '    es-US say "Marque su número de cuenta."\n',
        '    es-US say "Marque su número de cuenta."\n    fr-FR say "Entrez votre numéro."\n').replace(
        "on timeout -> repeat", "on timeout -> set language es-MX, repeat") + dedent("""
        test "t" {
            expect language de-DE
        }
        """), (9, 5), (17, 32), (33, 5)),
    case("IVR011", "clean", BANK.replace("on timeout -> repeat", "on timeout -> set language es-US, repeat")),
    case("IVR011", "calls start in a language that is not listed", BANK.replace("language en-US", "language en-GB"),
         (2, 5)),
    case("IVR012", "a variant missing, a language twice", BANK.replace(
        '    es-US say "Marque su número de cuenta."\n', '    en-US say "Your account number, please."\n'),
        (6, 8), (8, 5)),
    case("IVR012", "clean", BANK),
    # --- IVR015 required handlers ----------------------------------------------------------------------------
    case("IVR015", "a collect without on done, a lookup without on error", BANK.replace(
        "    on done -> goto find\n", "").replace('    on error -> transfer "200"\n', ""), (11, 9), (19, 8)),
    case("IVR015", "clean", BANK),
    # --- IVR129 to IVR133 ------------------------------------------------------------------------------------
    case("IVR129", "a route reached before the lookup that sets what it reads", BANK.replace(
        "on timeout -> repeat", "on timeout -> goto result"), (27, 10), (28, 23), (28, 30)),
    case("IVR129", "set on every path, or asked first with `is set`", BANK.replace(
        "on timeout -> repeat", "on timeout -> goto result").replace(
        'when balance < 0 -> transfer "300"',
        'when balance is set and balance < 0 -> transfer "300"\n    when balance != "" -> play total, hangup').replace(
        '-> play total, set seen = "{account}", hangup', "-> hangup")),
    case("IVR129", "key before any key was pressed", """
        prompt hi say "Press 1 for sales."
        prompt sorry say "{key} is not a key here."
        menu main {
            play hi
            press 1 -> transfer "{key}"
            on invalid -> play sorry, repeat
        }
        """, (6, 24)),
    case("IVR130", "a received name nothing uses", BANK.replace("receive balance", "receive balance, status"),
         (22, 22)),
    case("IVR130", "clean", BANK),
    case("IVR131", "a lookup over plain http", BANK.replace("https://bank", "http://bank"), (20, 13)),
    case("IVR131", "https, and http to the machine itself", BANK + dedent("""
        lookup local "http://127.0.0.1:8080/balance" {
            send account
            receive balance
            on done -> goto result
            on error -> hangup
        }
        """)),
    case("IVR133", "braces that are not a variable", BANK.replace("{balance}", "{balance:spell}").replace(
        'set seen = "{account}"', 'set seen = "{account"'), (10, 35), (28, 30)),
    case("IVR133", "clean", BANK),
]
CASES += SECOND_EDITION
