"""``rlenvs view RESULTS``: evaluation results as one self-contained HTML page.

``RESULTS`` is an evaluation's transcript file (``rlenvs eval --out X.jsonl``; its
``X.jsonl.summary.json`` is read when present) or a folder of them (the main job's
``--output-dir``). Per environment the page shows the pass@k table, a reward histogram and
every transcript with its verdict, reward components, tool calls (highlighted in the reply) and
process-reward steps (each step of the scored reply coloured by its score).

Transcripts are untrusted text. Everything the page shows from them is escaped
(``html.escape`` here, ``textContent`` in the page's script), the embedded JSON cannot close its
``<script>`` element, and a Content-Security-Policy lets only the page's own script run.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections import Counter
from pathlib import Path
from typing import Any

from rlenvs.eval_summary import summary_rows, unscored_note
from rlenvs.view_assets import CSS, SCRIPT

__all__ = ["load_results", "render_html", "write_view"]


def load_results(path: str | Path) -> list[dict[str, Any]]:
    """Each evaluation under ``path``: ``{"env_id", "policy", "scored_by", "summary",
    "records", "source"}``. A transcript file cut mid-line (a crashed run) keeps its whole
    lines."""
    path = Path(path)
    if path.is_file():
        return [_load_file(path, {})]
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such file or folder (give an --out transcript file "
                                "of `rlenvs eval` or the main job's --output-dir)")
    suite = _read_json(path / "summary.json") or {}
    found = [_load_file(p, suite) for p in sorted(path.glob("*.jsonl"))]
    found = [f for f in found if f["records"] or f["summary"]]
    loaded = {f["env_id"] for f in found}
    for env_id, row in suite.items():  # rows the main job left unscored have no transcripts
        if isinstance(row, dict) and row.get("scored") is False and env_id not in loaded:
            found.append({"env_id": env_id, "policy": "", "scored_by": row.get("scored_by", ""),
                          "summary": {}, "records": [], "source": str(path / "summary.json")})
    if not found:
        raise ValueError(f"{path} holds no evaluation transcripts (*.jsonl)")
    return found


def _load_file(path: Path, suite: dict[str, Any]) -> dict[str, Any]:
    from rlenvs.eval_files import NotTranscripts, read_transcripts
    from rlenvs.eval_summary import summarize

    try:
        records = read_transcripts(path)  # a crashed run's cut last line is dropped
    except NotTranscripts:
        return {"records": [], "summary": {}, "source": str(path)}
    summary = _read_json(Path(str(path) + ".summary.json"))
    partial = False
    if summary is None and records:  # no summary (an older run killed outright)
        per_episode = Counter(r.get("episode") for r in records)  # a crash leaves some short
        summary = summarize(records, min(per_episode.values()))
        partial = len(set(per_episode.values())) > 1 or \
            sorted(per_episode) != list(range(len(per_episode)))
    summary = summary or {}
    partial = partial or bool(summary.get("partial"))
    env_id = summary.get("env_id") or (records[0].get("env_id") if records else path.stem)
    # the main job's label for the row, else what the evaluation recorded
    scored_by = (suite.get(env_id) or {}).get("scored_by") or summary.get("scored_by", "")
    warning = ""
    if partial:
        warning = (f"{path} is partial: {len(records)} of {summary.get('planned', '?')} "
                   "transcripts (the evaluation was interrupted or crashed; "
                   "`rlenvs eval ... --resume` finishes it)")
    return {"env_id": env_id, "policy": summary.get("policy", ""), "scored_by": scored_by,
            "summary": summary, "records": records, "source": str(path), "warning": warning}


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def render_html(results: list[dict[str, Any]], title: str = "rlenvs results") -> str:
    """The page for ``results`` (from :func:`load_results`)."""
    e = _escape
    script_hash = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    csp = (f"default-src 'none'; script-src 'sha256-{script_hash}'; "
           "style-src 'unsafe-inline'; img-src data:")
    total = sum(len(r["records"]) for r in results)
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{e(csp)}">',
        f"<title>{e(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>", _overview(results),
        '<div class="controls"><label>show <select id="filter"><option value="all">all'
        '</option><option value="passed">passed</option><option value="failed">failed'
        '</option><option value="unscored">unscored</option></select></label> '
        '<input id="search" type="search" '
        'placeholder="search transcripts"> <label><input id="expand" type="checkbox"> '
        'expand all</label> <span id="shown-count" class="meta">'
        f"{total} transcripts (the page's script lists them)</span></div>",
    ]
    for i, result in enumerate(results):
        parts.append(_section(i, result))
    data = {"envs": [{"env_id": r["env_id"], "records": r["records"]} for r in results]}
    parts.append(f'<script type="application/json" id="rlenvs-data">{_script_json(data)}'
                 "</script>")
    parts.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(parts)


def write_view(results_path: str | Path, out: str | Path | None = None,
               warn: Any = None) -> Path:
    """Render ``results_path`` and write the page; default ``<folder>/view.html`` or
    ``<file stem>.html`` beside a transcript file. Returns the page's path. ``warn(text)`` is
    called for each partial result (an interrupted evaluation); the page says it too."""
    results_path = Path(results_path)
    results = load_results(results_path)
    for r in results:
        if r.get("warning") and warn is not None:
            warn(r["warning"])
    if out is None:
        out = (results_path / "view.html" if results_path.is_dir()
               else results_path.with_name(results_path.stem + ".html"))
    out = Path(out)
    title = f"rlenvs results — {results_path.name}"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(results, title), encoding="utf-8")
    return out


# ----------------------------------------------------------------- server-side parts (escaped)

def _escape(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _script_json(value: Any) -> str:
    """JSON that cannot end its ``<script>`` element nor open a comment in it."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                       ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, code)
    return text


def _pass1(summary: dict[str, Any]) -> str:
    value = (summary.get("pass_at_k") or {}).get("pass@1")
    return f"{value:.3f}" if isinstance(value, (int, float)) else "—"


def _overview(results: list[dict[str, Any]]) -> str:
    if len(results) < 2:
        return ""
    rows = ["<table class='overview'><tr><th>environment</th><th>pass@1</th>"
            "<th>mean reward</th><th>transcripts</th><th>unscored (not failures)</th>"
            "<th>scored by</th></tr>"]
    for i, r in enumerate(results):
        reward = r["summary"].get("mean_reward")
        shown = f"{reward:.3f}" if isinstance(reward, (int, float)) else "—"
        note = unscored_note(r["summary"]).removeprefix("unscored ")
        partial = " (partial)" if r.get("warning") else ""
        rows.append(f"<tr><td><a href='#env-{i}'>{_escape(r['env_id'])}</a>{partial}</td>"
                    f"<td class='num'>{_pass1(r['summary'])}</td><td class='num'>{shown}</td>"
                    f"<td class='num'>{len(r['records'])}</td><td>{_escape(note)}</td>"
                    f"<td>{_escape(r['scored_by'])}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


def _section(i: int, result: dict[str, Any]) -> str:
    s = result["summary"]
    meta = [f"policy: {result['policy']}" if result["policy"] else "",
            f"scored by: {result['scored_by']}" if result["scored_by"] else "",
            f"source: {result['source']}"]
    rows = summary_rows(s) if s else []
    table = "".join(f"<tr><td>{_escape(k)}</td><td class='num'>{_escape(v)}</td></tr>"
                    for k, v in rows)
    returns = [float(r["return"]) for r in result["records"]
               if isinstance(r.get("return"), (int, float))]
    return (f"<section class='env' id='env-{i}'><h2>{_escape(result['env_id'])}</h2>"
            f"<p class='meta'>{_escape(' · '.join(m for m in meta if m))}</p>"
            + (f"<p class='warning'>{_escape(result['warning'])}</p>"
               if result.get("warning") else "") +
            f"<table class='passk'>{table}</table>"
            f"<h3>reward histogram</h3>{histogram_svg(returns)}"
            f"<h3>transcripts</h3><div class='transcripts' id='transcripts-{i}'></div>"
            "</section>")


def histogram_svg(values: list[float], bins: int = 10, width: int = 420,
                  height: int = 140) -> str:
    """An inline SVG histogram; rewards in [0, 1] get ten bins over [0, 1]."""
    if not values:
        return "<p class='meta'>no transcripts</p>"
    low, high = min(values), max(values)
    if low >= 0.0 and high <= 1.0:
        low, high = 0.0, 1.0
    if high == low:
        high = low + 1.0
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - low) / (high - low) * bins))] += 1
    top, pad, bar = max(counts), 18, (width - 20) / bins
    rects = []
    for k, count in enumerate(counts):
        h = (height - 2 * pad) * count / top
        x, y = 10 + k * bar, height - pad - h
        lo_edge = low + (high - low) * k / bins
        hi_edge = low + (high - low) * (k + 1) / bins
        rects.append(f"<rect class='bin' x='{x:.1f}' y='{y:.1f}' width='{bar - 2:.1f}' "
                     f"height='{h:.1f}' data-count='{count}'><title>[{lo_edge:.2f}, "
                     f"{hi_edge:.2f}): {count}</title></rect>")
        if count:
            rects.append(f"<text x='{x + bar / 2 - 4:.1f}' y='{y - 3:.1f}'>{count}</text>")
    axis = (f"<text x='10' y='{height - 4}'>{low:.2f}</text>"
            f"<text x='{width - 40}' y='{height - 4}'>{high:.2f}</text>")
    return (f"<svg class='hist' xmlns='http://www.w3.org/2000/svg' width='{width}' "
            f"height='{height}' role='img' aria-label='reward histogram'>{''.join(rects)}"
            f"{axis}</svg>")
