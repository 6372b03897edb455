#!/usr/bin/env python3
# Usage: llama-server -m GGUF --jinja -t 1 -c 16384 --port 8091 & ; TURNS=3 python3 tool_format.py json,native TASK...
# executor-tools.json: tandem::tools::specs(ToolSet::Executor) and local_provider::tool_reply_schema, as of commit 50951ce.
"""Tool-call format experiment (issue #13, item 2): the same eval tasks, the same llama-server (--jinja) and GGUF,
the tool loop asked in two formats:
  json:   tandem's shape. No `tools` in the request; one JSON object {"tool": NAME, "arguments": {...}} per reply,
          held to tandem's schema (tool_reply_schema) by response_format; tool results come back as user turns.
  native: the model's own chat template. `tools` in the request (the template renders their schemas), the reply
          parsed by llama-server from <tool_call> tags; tool results come back as `tool` messages.
Each task: the executor prompt, a step brief with the named files already read (as tandem's tool loop shows
them), at most TURNS tool turns; then the task's tests are run by this script. Greedy decoding."""
import json, os, re, shutil, subprocess, sys, tempfile, time, urllib.request, tomllib

URL = os.environ.get("URL", "http://127.0.0.1:8091")
TURNS = int(os.environ.get("TURNS", "6"))
ROOT = os.environ.get("ROOT", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TOOLS = json.load(open(os.environ.get("TOOLS", os.path.join(os.path.dirname(os.path.abspath(__file__)), "executor-tools.json"))))
SPECS, SCHEMA = TOOLS["specs"], TOOLS["schema"]
EXECUTOR = open(f"{ROOT}/prompts/executor.md").read().strip()


def post(body):
    req = urllib.request.Request(URL + "/v1/chat/completions", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.load(r)


def numbered(text):
    return "".join(f"{i:>5}| {l}\n" for i, l in enumerate(text.splitlines(), 1))


def run_tool(ws, name, args, test):
    """(output, done) for one call, on the workspace."""
    def path(p):
        full = os.path.realpath(os.path.join(ws, p or "."))
        if not full.startswith(os.path.realpath(ws)):
            raise ValueError(f"{p} is outside the workspace")
        return full
    try:
        if name == "read_file":
            return numbered(open(path(args["path"])).read()), None
        if name == "list_dir":
            return "\n".join(sorted(os.listdir(path(args.get("path", "."))))), None
        if name == "outline":
            text = open(path(args["path"])).read()
            return "\n".join(l for l in text.splitlines() if re.match(r"\s*(def|class|fn|pub fn|function|impl|struct)\b", l)), None
        if name == "grep":
            out = subprocess.run(["grep", "-rn", args.get("pattern", ""), "."], cwd=ws, capture_output=True, text=True)
            return out.stdout[:3000] or "no matches", None
        if name == "edit":
            p = path(args["path"]); text = open(p).read(); s = args.get("search", "")
            if not s or text.count(s) != 1:
                return f"edit failed: search text found {text.count(s) if s else 0} times in {args['path']}", None
            open(p, "w").write(text.replace(s, args.get("replace", "")))
            return f"applied to {args['path']}", None
        if name == "write_file":
            p = path(args["path"]); os.makedirs(os.path.dirname(p), exist_ok=True)
            open(p, "w").write(args.get("content", ""))
            return f"wrote {args['path']}", None
        if name == "run":
            out = subprocess.run(args.get("command", ""), shell=True, cwd=ws, capture_output=True, text=True, timeout=60)
            return f"exit {out.returncode}\n{(out.stdout + out.stderr)[-2000:]}", None
        if name in ("step_done", "step_failed"):
            return "ok", name
        return f"unknown tool {name}", None
    except Exception as e:  # a bad call is an error result, as in tandem
        return f"{name} failed: {e}", None


def brief(task, ws):
    files = task.get("files", [])
    out = (f"Task: {task['prompt']}\n\nPlan:\n1. [ ] {task['prompt']}\nYour step: 1. {task['prompt']}\n"
           f"Files: {', '.join(files)}\nDone when: `{task['test']}` passes")
    for f in files:
        p = os.path.join(ws, f)
        if os.path.exists(p):
            out += f"\n\nContents of {f}:\n{numbered(open(p).read())}"
    return out


def attempt(fmt, name, task):
    ws = tempfile.mkdtemp(prefix=f"fmt-{name}-")
    shutil.copytree(f"{ROOT}/evals/tasks/{name}/repo", ws, dirs_exist_ok=True)
    messages = [{"role": "system", "content": EXECUTOR}, {"role": "user", "content": brief(task, ws)}]
    stats = dict(turns=0, bad=0, out_tokens=0, prompt_tokens=0, secs=0.0, calls=[])
    for turn in range(TURNS):
        body = {"messages": messages, "temperature": 0, "max_tokens": int(os.environ.get("MAX_TOKENS", "400")), "cache_prompt": True}
        if fmt == "native":
            body["tools"] = [{"type": "function", "function": {"name": s["name"], "description": s["description"],
                                                               "parameters": s["parameters"]}} for s in SPECS]
            body["tool_choice"] = "required"
        else:
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "call", "schema": SCHEMA}}
        t0 = time.time()
        try:
            reply = post(body)
        except Exception as e:
            stats["bad"] += 1; stats["calls"].append(f"ERROR {e}"); break
        stats["secs"] += time.time() - t0
        stats["turns"] += 1
        u = reply.get("usage", {}); stats["out_tokens"] += u.get("completion_tokens", 0)
        stats["prompt_tokens"] += u.get("prompt_tokens", 0)
        msg = reply["choices"][0]["message"]
        if reply["choices"][0].get("finish_reason") == "length":
            stats["cut"] = stats.get("cut", 0) + 1
            stats["calls"].append("CUT: " + json.dumps(msg)[:160])
        call = None
        if fmt == "native":
            tc = msg.get("tool_calls") or []
            if tc:
                try:
                    call = (tc[0]["function"]["name"], json.loads(tc[0]["function"]["arguments"] or "{}"), tc[0].get("id") or f"c{turn}")
                except Exception:
                    call = None
            if not tc:
                # What a lenient client would still take: one JSON object with name and arguments, fenced or
                # not, outside the template's <tool_call> tags (llama-server's parser does not).
                m = re.search(r"\{.*\}", msg.get("content") or "", re.S)
                try:
                    obj = json.loads(m.group(0)) if m else None
                    if isinstance(obj, dict) and "name" in obj and isinstance(obj.get("arguments"), dict):
                        call = (obj["name"], obj["arguments"], f"c{turn}")
                        stats["unwrapped"] = stats.get("unwrapped", 0) + 1
                        tc = [{"id": f"c{turn}", "type": "function",
                               "function": {"name": obj["name"], "arguments": json.dumps(obj["arguments"])}}]
                except Exception:
                    pass
            messages.append({"role": "assistant", "content": "" if tc else (msg.get("content") or ""),
                             **({"tool_calls": tc[:1]} if tc else {})})
        else:
            text = msg.get("content") or ""
            try:
                obj = json.loads(text); call = (obj["tool"], obj["arguments"], f"c{turn}")
            except Exception:
                call = None
            messages.append({"role": "assistant", "content": text})
        if call is None:
            stats["bad"] += 1; stats["calls"].append("NO CALL: " + (msg.get("content") or "")[:80])
            messages.append({"role": "user", "content": "Reply with exactly one tool call."})
            continue
        name_, args, cid = call
        out, done = run_tool(ws, name_, args if isinstance(args, dict) else {}, task["test"])
        if out.startswith(f"{name_} failed") or out.startswith("edit failed") or out.startswith("unknown tool"):
            stats["bad"] += 1
        stats["calls"].append(f"{name_} {json.dumps(args)[:60]} -> {out[:40]!r}")
        if done:
            break
        if fmt == "native":
            messages.append({"role": "tool", "tool_call_id": cid, "content": out})
        else:
            messages.append({"role": "user", "content": f"Tool result ({cid}):\n{out}"})
    test = subprocess.run(task["test"], shell=True, cwd=ws, capture_output=True, text=True, timeout=300)
    stats["pass"] = test.returncode == 0
    shutil.rmtree(ws, ignore_errors=True)
    return stats


def main():
    fmts = sys.argv[1].split(",")
    names = sys.argv[2:] or sorted(os.listdir(f"{ROOT}/evals/tasks"))
    results = {}
    for name in names:
        task = tomllib.load(open(f"{ROOT}/evals/tasks/{name}/task.toml", "rb"))
        for fmt in fmts:
            s = attempt(fmt, name, task)
            results[f"{name}/{fmt}"] = s
            print(f"{name:18} {fmt:6} {'PASS' if s['pass'] else 'fail'} turns {s['turns']} bad {s['bad']} cut {s.get('cut', 0)} unwrapped {s.get('unwrapped', 0)} "
                  f"out {s['out_tokens']} prompt {s['prompt_tokens']} {s['secs']:.0f}s  {' | '.join(s['calls'])[:300]}",
                  flush=True)
    json.dump(results, open(os.environ.get("JSON", "/tmp/fmt.json"), "w"), indent=1)
    for fmt in fmts:
        rs = [v for k, v in results.items() if k.endswith("/" + fmt)]
        print(f"{fmt}: pass {sum(r['pass'] for r in rs)}/{len(rs)}, bad calls {sum(r['bad'] for r in rs)}, "
              f"turns {sum(r['turns'] for r in rs)}, calls outside the tags {sum(r.get('unwrapped', 0) for r in rs)}, cut off {sum(r.get('cut', 0) for r in rs)}, output tokens {sum(r['out_tokens'] for r in rs)}, "
              f"{sum(r['secs'] for r in rs):.0f} s")


main()
