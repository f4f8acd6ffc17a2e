"""An audit's findings, and the three forms they are shown in: a one-screen terminal table
(rich), JSON and a self-contained HTML page styled like ``rlenvs view``.

Replies are untrusted text (an attack wrote them): the page escapes everything it shows,
carries no script at all, and its Content-Security-Policy forbids any.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Outcome", "FamilyResult", "AuditReport", "print_report", "render_html"]

_SHOWN = 600  # characters of an example reply kept in the report


@dataclass
class Outcome:
    """What came of one reply: passed, a fault (unscored verdict or a judge that raised)."""

    reply: str
    passed: bool
    fault: bool
    reward: float | None
    reason: str


def _example(outcome: Outcome, seed: int) -> dict[str, Any]:
    """One reply as the report shows it: cut to ``_SHOWN`` characters, and with its code points
    escaped (``"code_points"``) when it holds anything but printable ASCII -- an invisible or
    look-alike character is what such an attack is made of."""
    reply = outcome.reply
    shown = reply if len(reply) <= _SHOWN else reply[:_SHOWN] + f"... ({len(reply)} chars)"
    example = {"reply": shown, "episode_seed": seed, "reward": outcome.reward,
               "reason": outcome.reason}
    if not all(" " <= ch <= "~" or ch in "\n\t" for ch in shown):
        example["code_points"] = ascii(shown)[1:-1]
    return example


@dataclass
class FamilyResult:
    """One family over the audit: replies tried, passed (for probes: failed), faults."""

    name: str
    description: str
    tried: int = 0
    wrong: int = 0  # attacks that passed; probes that failed
    faults: int = 0
    example: dict[str, Any] | None = None
    fault_example: dict[str, Any] | None = None
    skipped: set[str] = field(default_factory=set)

    def add(self, outcome: Outcome, seed: int, expect_pass: bool = False) -> None:
        self.tried += 1
        if outcome.fault:
            self.faults += 1
            self.fault_example = self.fault_example or _example(outcome, seed)
        elif outcome.passed != expect_pass:
            self.wrong += 1
            self.example = self.example or _example(outcome, seed)

    @property
    def status(self) -> str:
        if self.tried == 0:
            return "skipped"
        if self.wrong:
            return "HOLE"
        return "faults only" if self.faults == self.tried else "held"

    def to_dict(self, probe: bool = False) -> dict[str, Any]:
        judged = self.tried - self.faults
        d: dict[str, Any] = {"name": self.name, "description": self.description,
                             "status": self.status, "tried": self.tried, "faults": self.faults,
                             "skipped": sorted(self.skipped)}
        if probe:
            d.update(false_negatives=self.wrong,
                     false_negative_rate=self.wrong / judged if judged else None)
            d["status"] = ("false negatives" if self.wrong else "all passed"
                           if self.status == "held" else self.status)
        else:
            d["passed_when_should_not"] = self.wrong
        d["example"] = self.example
        d["fault_example"] = self.fault_example
        return d


@dataclass
class AuditReport:
    """The whole audit of one environment (``exit_code``: 1 when any attack passed)."""

    env_id: str
    env_kwargs: dict[str, Any]
    seed: int
    episodes_requested: int
    judge: str
    episodes_run: int = 0
    partial: bool = False
    elapsed_s: float = 0.0
    kinds: list[str] = field(default_factory=list)
    families: list[FamilyResult] = field(default_factory=list)
    probes: FamilyResult | None = None

    @property
    def holes(self) -> list[FamilyResult]:
        return [f for f in self.families if f.wrong]

    @property
    def exit_code(self) -> int:
        return 1 if self.holes else 0

    @property
    def false_negative_rate(self) -> float | None:
        if self.probes is None:
            return None
        return self.probes.to_dict(probe=True)["false_negative_rate"]

    def to_dict(self) -> dict[str, Any]:
        return {"env_id": self.env_id, "env_kwargs": self.env_kwargs, "judge": self.judge,
                "seed": self.seed, "episodes_requested": self.episodes_requested,
                "episodes_run": self.episodes_run, "partial": self.partial,
                "elapsed_s": round(self.elapsed_s, 3), "task_kinds": self.kinds,
                "passed": not self.holes, "holes": [f.name for f in self.holes],
                "replies_tried": sum(f.tried for f in self.families),
                "false_negative_rate": self.false_negative_rate,
                "families": [f.to_dict() for f in self.families],
                "probes": self.probes.to_dict(probe=True) if self.probes else None}

    def write_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False, default=str),
                        encoding="utf-8")
        return path

    def write_html(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_html(self), encoding="utf-8")
        return path

    def summary_line(self) -> str:
        d = self.to_dict()
        fn = d["false_negative_rate"]
        verdict = (f"{len(self.holes)} hole(s): {', '.join(d['holes'])}" if self.holes
                   else "no attack passed")
        faults = sum(f.faults for f in self.families)
        if faults:
            verdict += f" ({faults} fault(s): unscored, not judged)"
        return (f"{self.env_id}: {verdict}; {d['replies_tried']} replies over "
                f"{self.episodes_run} episode(s) in {self.elapsed_s:.1f}s; false-negative rate "
                f"{'n/a' if fn is None else f'{fn:.1%}'}" + (" (PARTIAL: time ran out)"
                                                          if self.partial else ""))


def _one_line(text: str, width: int = 60) -> str:
    flat = " ".join(repr(text)[1:-1].split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def print_report(report: AuditReport, console: Any = None) -> None:
    """The one-screen table (rich) and the summary line."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"audit of {report.env_id} — judged by {report.judge}", title_justify="left")
    for col, kw in (("family", {}), ("tried", {"justify": "right"}),
                    ("passed (should not)", {"justify": "right"}),
                    ("faults", {"justify": "right"}), ("status / example", {})):
        table.add_column(col, **kw)
    rows = list(report.families) + ([report.probes] if report.probes else [])
    skipped: dict[str, list[str]] = {}
    for f in rows:
        probe = f is report.probes
        d = f.to_dict(probe=probe)
        if f.tried == 0:
            skipped.setdefault("; ".join(sorted(f.skipped)), []).append(f.name)
            continue
        if f.example:
            note = f"[red]{d['status']}[/red] " + escape(_one_line(f.example["reply"], 40))
        else:
            color = "green" if d["status"] in ("held", "all passed") else "yellow"
            note = f"[{color}]{d['status']}[/{color}]"
        wrong = f"{f.wrong} FN" if probe else str(f.wrong)
        table.add_row(f.name, str(f.tried), wrong, str(f.faults), note)
    for why, names in skipped.items():
        table.add_row(f"[dim]{escape(', '.join(names))}[/dim]", "", "", "",
                      f"[dim]skipped: {escape(why)}[/dim]")
    console.print(table)
    style = "red" if report.holes else "green"
    console.print(f"[{style}]{escape(report.summary_line())}[/{style}]")


_CSS_EXTRA = """
tr.hole td { background: #ffebe9; } tr.faulty td.status { color: #9a6700; } tr.held td.status { color: #1a7f37; font-weight: 600; }
tr.hole td.status { color: #cf222e; font-weight: 600; } tr.skipped td { color: #57606a; }
pre.codepoints { color: #57606a; }
pre.reply { margin: 0; white-space: pre-wrap; word-break: break-word; max-width: 520px;
            font: 12px/1.35 ui-monospace, monospace; }
.banner { padding: .5em .8em; border-radius: 4px; color: #fff; background: #1a7f37; }
.banner.fail { background: #cf222e; }
"""


def render_html(report: AuditReport) -> str:
    """The report as one self-contained page (no script; everything escaped)."""
    from rlenvs.view_assets import CSS

    e = lambda v: html.escape(str(v), quote=True)  # noqa: E731
    d = report.to_dict()
    title = f"rlenvs audit — {report.env_id}"
    csp = "default-src 'none'; style-src 'unsafe-inline'"
    fn = d["false_negative_rate"]
    parts = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
             f'<meta http-equiv="Content-Security-Policy" content="{e(csp)}">',
             f"<title>{e(title)}</title><style>{CSS}{_CSS_EXTRA}</style></head><body>",
             f"<h1>{e(title)}</h1>",
             f'<p class="banner{" fail" if report.holes else ""}" id="verdict">'
             f"{e(report.summary_line())}</p>",
             f'<p class="meta">judged by {e(report.judge)} · seed {report.seed} · '
             f"episodes {report.episodes_run}/{report.episodes_requested} · task kinds "
             f"{e(', '.join(report.kinds) or '—')} · env kwargs {e(json.dumps(report.env_kwargs, default=str))}"
             f"{' · <b>partial</b>' if report.partial else ''}</p>",
             "<h2>Attack families (a correct judge passes none)</h2>",
             "<table id='families'><tr><th>family</th><th>tried</th><th>passed (should not)"
             "</th><th>faults</th><th>status</th><th>example</th></tr>"]
    for f in d["families"]:
        parts.append(_row(f, f["passed_when_should_not"], e))
    parts.append("</table>")
    if d["probes"]:
        p = d["probes"]
        parts += [f"<h2>False-negative probes (a correct judge passes all): rate "
                  f"{'n/a' if fn is None else f'{fn:.1%}'}</h2>",
                  "<table id='probes'><tr><th>probe</th><th>tried</th><th>failed (should "
                  "pass)</th><th>faults</th><th>status</th><th>example</th></tr>",
                  _row(p, p["false_negatives"], e), "</table>"]
    parts.append("</body></html>")
    return "\n".join(parts)


def _row(f: dict[str, Any], wrong: int, e: Any) -> str:
    cls = {"skipped": "skipped", "HOLE": "hole", "faults only": "faulty"}.get(f["status"], "held")
    ex = f["example"] or f["fault_example"]
    example = ""
    if ex:
        escaped = ex.get("code_points")
        example = (f"<pre class='reply'>{e(ex['reply'])}</pre>"
                   + (f"<pre class='reply codepoints'>code points: {e(escaped)}</pre>"
                      if escaped else "")
                   + f"<span class='meta'>episode seed {e(ex['episode_seed'])}, reward "
                   f"{e(ex['reward'])}: {e(ex['reason'])}</span>")
    elif f["skipped"]:
        example = f"<span class='meta'>skipped: {e('; '.join(f['skipped']))}</span>"
    return (f"<tr class='{cls}' data-family='{e(f['name'])}'><td title='{e(f['description'])}'>"
            f"{e(f['name'])}</td><td class='num'>{f['tried']}</td><td class='num'>{wrong}</td>"
            f"<td class='num'>{f['faults']}</td><td class='status'>{e(f['status'])}</td>"
            f"<td>{example}</td></tr>")
