"""``birnn explain`` end to end on tiny models trained through the command line (one per task),
``birnn train --trace-gradients``, ``birnn explain --trace``, the HTML page (parsed, and rendered
in headless Chromium where it is installed) and the bad-input contract: one line on stderr, exit
status 2, no file written or changed."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from cli_support import (
    SMALL,
    cli,
    ok,
    pos_sentences,
    quietly,
    write_classification,
    write_conllu,
    write_fill,
    write_ner,
)

pytest.importorskip("safetensors")

TEXTS = {
    "tag": "the big dog sees a cat .",
    "ner": "mary went to paris today",
    "classify": "the movie was really great",
    "fill": "i saw a ___ rose today",
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("explain")
    data = {
        "tag": write_conllu(d / "pos.conllu", pos_sentences(48, seed=0)),
        "ner": write_ner(d / "ner.txt", 48, seed=0),
        "classify": write_classification(d / "cls.txt", 48, seed=0),
        "fill": write_fill(d / "fill.tsv", 48, seed=0),
    }
    commands = {
        "tag": "--task tag --layers 2 --trace-gradients 3",
        "ner": "--task tag --scheme iob2 --head crf",
        "classify": "--task classify --pooling final+max",
        "fill": "--task fill",
    }
    out = {}
    for name, options in commands.items():
        out[name] = d / f"run-{name}"
        quietly(f"train --train {{data}} --out {{out}} --epochs 4 {SMALL} {options}",
                data=data[name], out=out[name])  # fmt: skip
    return out | {f"{name}-data": path for name, path in data.items()}


@pytest.mark.parametrize("task", list(TEXTS))
def test_explain_prints_the_models_own_predictions_split_by_direction(capsys, runs, task):
    predicted = ok(capsys, f'predict --model {{m}} --text "{TEXTS[task]}"', m=runs[task])
    shown = ok(capsys, f'explain --model {{m}} --text "{TEXTS[task]}"', m=runs[task])
    assert shown.splitlines()[1] == f"text: {TEXTS[task]}"
    rows = [line.split() for line in shown.splitlines() if line[:3].strip().isdigit()
            or line.startswith("  -")]  # fmt: skip
    if task in ("tag", "ner"):
        tags = [line.split("\t")[1] for line in predicted.splitlines() if line]
        assert [r[2] for r in rows] == tags
    else:  # classify: label<TAB>text; fill: text<TAB>answer
        cells = predicted.strip().split("\t")
        assert rows[0][2] == (cells[0] if task == "classify" else cells[1])
    assert "note: score = forward + backward + bias exactly" in shown
    if task == "tag":  # two layers: the note says what the split is, and is not
        assert "each of them read both directions of the layer below" in shown
    if task == "ner":
        assert "margin of the paths" in shown and "CRF head" in shown


@pytest.mark.parametrize("task", list(TEXTS))
def test_explain_json_adds_up(capsys, runs, task):
    (e,) = json.loads(ok(capsys, f'explain --model {{m}} --text "{TEXTS[task]}" --json',
                         m=runs[task]))  # fmt: skip
    words = TEXTS[task].split()
    assert e["words"] == words and e["task"] == ("tag" if task == "ner" else task)
    for d in e["decisions"]:
        p = d["predicted"]
        assert sum(p["parts"].values()) == pytest.approx(p["score"], abs=1e-5)
        if d["path"] is not None:
            assert sum(d["path"]["parts"].values()) == pytest.approx(d["path"]["score"], abs=1e-5)
    s = e["sensitivity"]
    forward, backward = np.array(s["forward"]), np.array(s["backward"])
    assert forward.shape == backward.shape == (len(s["positions"]), len(words))
    for i, t in enumerate(s["positions"]):
        if t is not None:
            assert np.all(forward[i, t + 1 :] == 0) and np.all(backward[i, :t] == 0)
    assert (s["mixed"] is not None) == (task == "tag")  # the 2-layer model has mixed paths


def test_one_position_prints_its_whole_row(capsys, runs):
    out = ok(capsys, 'explain --model {m} --text "the big dog sees a cat ." --position 2',
             m=runs["tag"])  # fmt: skip
    assert "t=2 'dog' -> NOUN" in out
    row = [line.split() for line in out.splitlines() if line.startswith("      4  a ")]
    assert row and float(row[0][2]) == 0  # through the forward chains nothing after 'dog'


def test_input_file_explains_each_text(capsys, runs, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("the dog runs .\na cat sees the tree .\n", encoding="utf-8")
    out = ok(capsys, "explain --model {m} --input {t}", m=runs["tag"], t=texts)
    assert "text: the dog runs ." in out and "text: a cat sees the tree ." in out


class _Tags(HTMLParser):
    """Checks that every element opened is closed in order; records the text."""

    VOID = frozenset({"meta", "br", "img", "rect"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.text: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        self.attrs += attrs
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


@pytest.mark.parametrize("task", ["tag", "fill"])
def test_the_html_page_is_self_contained_and_well_formed(capsys, runs, tmp_path, task):
    page = tmp_path / "page.html"
    ok(capsys, f'explain --model {{m}} --text "{TEXTS[task]}" --html {{p}}', m=runs[task], p=page)
    source = page.read_text(encoding="utf-8")
    parser = _Tags()
    parser.feed(source)
    assert parser.stack == []
    text = "".join(parser.text)
    for word in TEXTS[task].split():
        assert word in text
    names = {name for name, _ in parser.attrs}
    assert not names & {"src", "href"} and "url(" not in source and "http" not in source
    assert source.count("<svg") == (3 if task == "tag" else 2)  # one map per gradient path
    if shutil.which("chromium") is None:
        pytest.skip("headless rendering needs chromium (apt-get install chromium)")
    shot = tmp_path / "page.png"
    run = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1000,800"]
    dom = subprocess.run([*run, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120, check=True).stdout  # fmt: skip
    assert dom.count('class="tok"') >= len(TEXTS[task].split())
    subprocess.run([*run, f"--screenshot={shot}", page.as_uri()], capture_output=True,
                   timeout=120, check=True)  # fmt: skip
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5000


def test_plots_are_written(capsys, runs, tmp_path):
    pytest.importorskip("matplotlib")
    prefix = tmp_path / "ewt"
    ok(capsys, 'explain --model {m} --text "the dog runs ." --plot {p}', m=runs["tag"], p=prefix)
    ok(capsys, "explain --model {m} --gradients --plot {p}", m=runs["tag"], p=prefix)
    for name in ("attribution", "sensitivity", "gradients"):
        assert Path(f"{prefix}-{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ewt-attribution.png", "ewt-gradients.png", "ewt-sensitivity.png",
    ]  # fmt: skip


def test_gradient_flow_on_a_batch_and_from_training(capsys, runs):
    out = ok(capsys, "explain --model {m} --gradients {d} --batch-size 8", m=runs["tag"],
             d=runs["tag-data"])  # fmt: skip
    assert "batch of 8    layer 2 backward" in out
    trace = runs["tag"] / "gradients.jsonl"
    steps = [json.loads(line)["step"] for line in trace.read_text().splitlines()]
    assert steps == list(range(1, max(steps) + 1, 3)) and len(steps) >= 5
    out = ok(capsys, "explain --model {m} --gradients --json", m=runs["tag"])
    flows = json.loads(out)
    assert flows[0]["name"] == "epoch 1" and flows[-1]["name"] == "epoch 4"
    assert flows[0]["chains"] == ["l0", "l0_reverse", "l1", "l1_reverse"]


def test_trace_answers_with_the_numbers(capsys):
    out = ok(capsys, "explain --trace --steps 3")
    assert "Are there two backprops? No" in out
    assert out.rstrip().endswith("All 19 quantities agree to 1e-12.")


BAD = [
    ("explain --model {d}/nothing --text a", "nothing"),
    ("explain --model {tag} --text ' '", "the text is empty"),
    ("explain --model {tag} --text 'the dog runs .' --position 4", "positions must be token"),
    ("explain --model {tag} --text 'the dog' --position -1", "positions must be token"),
    ("explain --model {classify} --text 'a good movie' --position 0", "apply to taggers"),
    ("explain --model {fill} --text 'no blank here'", "needs exactly one ___"),
    ("explain --model {tag} --text 'the dog' --html {d}/missing/page.html", "does not exist"),
    ("explain --model {tag} --text 'the dog' --html {d}", "must name a file"),
    ("explain --model {classify} --gradients", "no gradient trace"),
    ("explain --model {tag} --gradients --position 1", "takes no --position"),
    ("explain --model {tag} --gradients {d}/none.txt", "no such file"),
    ("explain --trace --model {tag}", "takes no --model"),
    ("explain --trace --steps 0", "--steps must be in"),
    ("explain --text 'the dog'", "--model is required"),
    ("explain --model {tag}", "give --text, --input or --gradients"),
    ("train --task tag --train {data} --out {d}/x --trace-gradients 0", "--trace-gradients must"),
]


@pytest.mark.parametrize("command, message", BAD)
def test_bad_input_is_one_line_and_exit_2(capsys, runs, tmp_path, command, message):
    keep = tmp_path / "keep.html"
    keep.write_text("untouched", encoding="utf-8")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    if not any(option in command for option in ("--html", "train", "--trace", "--gradients")):
        command += " --html {k}"  # an existing file the failed command must leave alone
    code, _, err = cli(
        capsys,
        command,
        d=tmp_path,
        k=keep,
        data=runs["tag-data"],
        **runs,
    )
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
