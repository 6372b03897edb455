#!/usr/bin/env python3
# Usage: llama-server -m GGUF --jinja -t 1 -c 16384 --port 8091 & ; python3 change_line.py TASK...
"""A/B on the whole-file reply: as tandem asks it now, against a reply that first states the change in one line
("Change: ..."), both held by a GBNF grammar. Same llama-server, GGUF and tasks; the brief is tandem's whole-file
brief (task, check output, test for reference, the file). Pass = the task's tests pass with the reply's file."""
import json, os, re, shutil, subprocess, sys, tempfile, time, urllib.request, tomllib
URL = os.environ.get("URL", "http://127.0.0.1:8091")
ROOT = os.environ.get("ROOT", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
WRITER = open(f"{ROOT}/prompts/writer.md").read().strip()
THINK = WRITER.replace("- Write nothing else: no explanation before or after the blocks.",
    "- First write one line that starts with `Change:` and says what is wrong and what you change; then the files. Nothing after them.")

def post(body):
    req = urllib.request.Request(URL + "/v1/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=900) as r: return json.load(r)

def lit(s): return json.dumps(s)
def grammar(paths, think):
    n = len(paths); g = "root ::= " + (' "Change: " [^\\n]+ "\\n\\n" ' if think else "") + "(" + " | ".join(f"r{i}" for i in range(n)) + ")\n"
    for i, p in enumerate(paths):
        g += f'r{i} ::= {lit(p)} "\\n```" tag "\\n" line* "```\\n"' + (f" t{i+1}" if i + 1 < n else "") + "\n"
        if i > 0: g += f't{i} ::= ("\\n" (' + " | ".join(f"r{j}" for j in range(i, n)) + "))?\n"
    g += 'tag ::= [a-zA-Z0-9_+.-]*\nline ::= "\\n" | [^`\\n] [^\\n]* "\\n" | "`" [^`\\n] [^\\n]* "\\n" | "``" [^`\\n] [^\\n]* "\\n"\n'
    return g

def is_test(p):
    n = p.split("/")[-1]; return n.startswith("test") or "_test." in n or ".test." in n or "tests/" in p

def run(name, think, temp, seed):
    task = tomllib.load(open(f"{ROOT}/evals/tasks/{name}/task.toml", "rb"))
    ws = tempfile.mkdtemp(prefix="think-"); shutil.copytree(f"{ROOT}/evals/tasks/{name}/repo", ws, dirs_exist_ok=True)
    check = subprocess.run(task["test"], shell=True, cwd=ws, capture_output=True, text=True, timeout=300)
    report = (check.stdout + check.stderr)[-2000:]
    files = [f for f in sorted(os.listdir(ws)) if os.path.isfile(os.path.join(ws, f))]
    srcs = task.get("files", [])
    tests = [f for f in files if is_test(f)]
    ext = lambda p: p.rsplit(".", 1)[-1]
    brief = (f"Task: {task['prompt']}\n\nPlan:\n1. [ ] {task['prompt']}\nYour step: 1. {task['prompt']}\nDone when: the tests pass"
             f"\n\nThe project's check fails now. `{task['test']}` exited with {check.returncode}:\n{report}")
    for t in tests:
        brief += f"\n\nFor reference, the test {t} (leave it as it is):\n```{ext(t)}\n{open(os.path.join(ws, t)).read()}```"
    brief += "\n\nThe files as they are now:\n"
    for s in srcs:
        brief += f"\n{s}\n```{ext(s)}\n{open(os.path.join(ws, s)).read()}```\n"
    brief += f"\nReply with the complete new content of each file you change ({', '.join(srcs)}): its path on a line of its own, then a fenced block with every line of the file."
    body = {"messages": [{"role": "system", "content": THINK if think else WRITER}, {"role": "user", "content": brief}],
            "temperature": temp, "seed": seed, "max_tokens": 1024, "grammar": grammar(srcs, think), "cache_prompt": True}
    t0 = time.time(); r = post(body); secs = time.time() - t0
    text = r["choices"][0]["message"]["content"] or ""
    changed = False
    for s in srcs:
        m = re.search(re.escape(s) + r"\n```[^\n]*\n(.*?)```\n", text, re.S)
        if m:
            old = open(os.path.join(ws, s)).read()
            changed |= m.group(1) != old
            open(os.path.join(ws, s), "w").write(m.group(1))
    ok = subprocess.run(task["test"], shell=True, cwd=ws, capture_output=True, text=True, timeout=300).returncode == 0
    shutil.rmtree(ws, ignore_errors=True)
    line = text.split("\n", 1)[0] if think else ""
    return ok, changed, r["usage"]["completion_tokens"], secs, line

names = sys.argv[1:]
tot = {}
for name in names:
    for think in (False, True):
        for temp, seed in ((0, 0), (0.6, 1), (0.6, 2)):
            ok, changed, toks, secs, line = run(name, think, temp, seed)
            k = "think" if think else "plain"; a = tot.setdefault(k, [0, 0, 0, 0])
            a[0] += ok; a[1] += changed; a[2] += 1; a[3] += toks
            print(f"{name:16} {k:5} T={temp} {'PASS' if ok else 'fail'} {'changed' if changed else 'UNCHANGED'} {toks} tok {secs:.0f}s {line[:100]}", flush=True)
for k, (ok, ch, n, toks) in tot.items():
    print(f"{k}: pass {ok}/{n}, changed {ch}/{n}, output tokens {toks}")
