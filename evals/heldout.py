#!/usr/bin/env python3
"""Builds a held-out eval set from Exercism's practice exercises, in the layout of evals/tasks.

The tasks are not kept in this repository: they are drawn afresh, by a seed, from checkouts of Exercism's tracks
(github.com/exercism/python, /javascript, /rust; MIT-licensed), so nothing in tandem is tuned on them. Each task is
an exercise as a user would get it: the stub, the shipped tests, the exercise's instructions, and a task text that
names the test command. Its reference solution is the track's own example. Every task is checked before it is
kept: its test must fail on the stub and pass with the example (a task that does not is skipped, and the next
one drawn).

Usage:
  evals/heldout.py --out DIR [--seed N] [--per-lang N] [--max-lines N]
                   [--python SRC] [--javascript SRC] [--rust SRC] [--jest DIR]

SRC is a track checkout or a bare git directory (its HEAD is read). JavaScript's tests run on jest: --jest names
a directory whose node_modules holds jest, babel-jest, @jest/globals and @exercism/babel-preset-javascript (made
with `npm install` once; the tasks use it read-only by absolute path). Then run the eval on it:
  target/release/examples/eval --tasks DIR --check-from-task --model qwen2.5-coder-1.5b ...
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


class Track:
    """Read access to one Exercism track, from a checkout or a bare git directory."""

    def __init__(self, src: str):
        self.src = Path(src)
        self.git = not (self.src / "exercises").is_dir()

    def read(self, path: str) -> str | None:
        if self.git:
            r = subprocess.run(
                ["git", "--git-dir", str(self.src), "show", f"HEAD:{path}"],
                capture_output=True,
            )
            return r.stdout.decode() if r.returncode == 0 else None
        p = self.src / path
        return p.read_text() if p.is_file() else None

    def practice(self) -> list[str]:
        config = json.loads(self.read("config.json") or "{}")
        return sorted(
            e["slug"]
            for e in config.get("exercises", {}).get("practice", [])
            if e.get("status") not in ("deprecated", "wip")
        )


def instructions(track: Track, base: str) -> str:
    parts = []
    for name in ("introduction.md", "instructions.md", "instructions.append.md"):
        text = track.read(f"{base}/.docs/{name}")
        if text:
            parts.append(text.strip())
    return "\n\n".join(parts)


def lines(text: str) -> int:
    return len([line for line in text.splitlines() if line.strip()])


def candidate(track: Track, lang: str, slug: str, max_lines: int, jest: Path | None):
    """The task's parts, or None when the exercise does not fit (several files, dependencies, too long)."""
    base = f"exercises/practice/{slug}"
    meta = json.loads(track.read(f"{base}/.meta/config.json") or "{}").get("files", {})
    solution = [f for f in meta.get("solution", []) if f != "Cargo.toml"]
    tests = meta.get("test", [])
    examples = meta.get("example", [])
    if len(solution) != 1 or len(tests) != 1 or len(examples) != 1 or meta.get("editor"):
        return None
    example = track.read(f"{base}/{examples[0]}")
    stub = track.read(f"{base}/{solution[0]}")
    test = track.read(f"{base}/{tests[0]}")
    if example is None or stub is None or test is None or lines(example) > max_lines:
        return None
    text = instructions(track, base)
    if not text:
        return None
    repo = {solution[0]: stub, tests[0]: test}
    if lang == "python":
        command = f"python3 -m unittest {tests[0]}"
    elif lang == "rust":
        manifest = track.read(f"{base}/Cargo.toml") or ""
        deps = manifest.split("[dependencies]", 1)[1] if "[dependencies]" in manifest else ""
        if any(l.strip() and not l.strip().startswith(("#", "[")) for l in deps.split("[")[0].splitlines()):
            return None
        repo["Cargo.toml"] = manifest
        command = "cargo test --offline -q -- --include-ignored"
    else:
        if jest is None:
            return None
        # Every test runs: the track marks all but the first as skipped for students.
        repo[tests[0]] = test.replace("xtest(", "test(").replace("xit(", "it(")
        preset = jest / "node_modules/@exercism/babel-preset-javascript"
        repo["babel.config.js"] = f"module.exports = {{ presets: [{json.dumps(str(preset))}] }};\n"
        command = f"{jest}/node_modules/.bin/jest --ci --modulePaths={jest}/node_modules {tests[0]}"
        repo["package.json"] = json.dumps({"name": slug, "private": True, "scripts": {"test": command}}, indent=2) + "\n"
    prompt = (
        f"{text}\n\n"
        f"Implement this in {solution[0]}. The tests are in {tests[0]}; run them with `{command}`. "
        "Do not change the tests. Use only the standard library."
    )
    return {
        "slug": slug,
        "repo": repo,
        "solution": {solution[0]: example},
        "toml": {"prompt": prompt, "test": command, "lang": lang, "kind": "exercise", "files": [solution[0]]},
    }


def toml_string(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def write_task(out: Path, name: str, task) -> Path:
    d = out / name
    if d.exists():
        shutil.rmtree(d)
    for sub, files in (("repo", task["repo"]), ("solution", task["solution"])):
        for rel, text in files.items():
            p = d / sub / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
    t = task["toml"]
    body = "".join(
        f"{k} = {toml_string(t[k])}\n" for k in ("prompt", "test", "lang", "kind")
    ) + f"files = [{', '.join(toml_string(f) for f in t['files'])}]\n"
    (d / "task.toml").write_text(body)
    return d


def run(cmd: str, cwd: Path) -> bool:
    env = dict(os.environ)
    env.pop("CARGO_TARGET_DIR", None)
    try:
        return subprocess.run(["bash", "-c", cmd], cwd=cwd, capture_output=True, timeout=300, env=env).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def well_made(d: Path, command: str) -> bool:
    """The test fails on the stub and passes with the example."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "w"
        # Plain copies get fresh mtimes: cargo would not see a copied file with an older mtime as changed.
        shutil.copytree(d / "repo", work, copy_function=shutil.copy)
        if run(command, work):
            return False
        shutil.copytree(d / "solution", work, dirs_exist_ok=True, copy_function=shutil.copy)
        return run(command, work)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--per-lang", type=int, default=6)
    ap.add_argument("--max-lines", type=int, default=60, help="longest example solution, non-blank lines")
    ap.add_argument("--python")
    ap.add_argument("--javascript")
    ap.add_argument("--rust")
    ap.add_argument("--jest", type=Path)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    prefix = {"python": "py", "javascript": "js", "rust": "rs"}
    chosen = []
    for lang in ("python", "javascript", "rust"):
        src = getattr(a, lang)
        if not src:
            continue
        track = Track(src)
        slugs = track.practice()
        random.Random(f"{a.seed}-{lang}").shuffle(slugs)
        kept = 0
        for slug in slugs:
            if kept == a.per_lang:
                break
            task = candidate(track, lang, slug, a.max_lines, a.jest)
            if task is None:
                continue
            name = f"{prefix[lang]}_{slug.replace('-', '_')}"
            d = write_task(a.out, name, task)
            if not well_made(d, task["toml"]["test"]):
                print(f"skip {name}: its test does not fail on the stub and pass with the example", file=sys.stderr)
                shutil.rmtree(d)
                continue
            kept += 1
            chosen.append(name)
            print(f"ok   {name}", file=sys.stderr)
    (a.out / "SOURCE.txt").write_text(
        f"Drawn by evals/heldout.py --seed {a.seed} --per-lang {a.per_lang} --max-lines {a.max_lines}\n"
        + "".join(f"{n}\n" for n in chosen)
    )
    print(f"{len(chosen)} tasks in {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
