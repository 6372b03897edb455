#!/usr/bin/env python3
"""Refreshes data/prices.json, tandem's snapshot of model prices, from LiteLLM's maintained table
(model_prices_and_context_window.json, MIT licence), which the `litellm` package on PyPI ships as
litellm/model_prices_and_context_window_backup.json.

Usage: scripts/refresh-prices.py [TABLE.json]
  Without TABLE.json, downloads the newest `litellm` wheel from PyPI (pip download, no dependencies) into a
  temporary folder and reads the table from it.

Keeps chat models of the providers tandem users point it at, keyed by the bare model name (the part after the
last `/`; the first provider in PROVIDERS wins a name), in USD per million tokens: input, cached input (cache
read), cache write, output, and the long-context tier where the table has one (prices above N input tokens).
Writes one model per line, sorted, so a refresh is a readable diff."""

import datetime
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile

PROVIDERS = [
    "openai", "anthropic", "gemini", "vertex_ai-language-models", "deepseek", "mistral", "xai", "groq",
    "together_ai", "fireworks_ai", "openrouter", "deepinfra", "cerebras", "perplexity", "dashscope",
]
MEMBER = "litellm/model_prices_and_context_window_backup.json"


def load(argv):
    if len(argv) > 1:
        with open(argv[1]) as f:
            return json.load(f), "a local copy of LiteLLM's model_prices_and_context_window.json"
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "litellm", "--no-deps", "-q", "-d", tmp],
                       check=True)
        wheel = glob.glob(os.path.join(tmp, "litellm-*.whl"))[0]
        version = os.path.basename(wheel).split("-")[1]
        with zipfile.ZipFile(wheel) as z:
            return json.loads(z.read(MEMBER)), "LiteLLM's model_prices_and_context_window.json (MIT), litellm %s on PyPI" % version


def per_million(v):
    return None if v is None else round(v * 1_000_000, 6)


def entry(v):
    out = {
        "input": per_million(v["input_cost_per_token"]),
        "output": per_million(v["output_cost_per_token"]),
    }
    for key, name in [("cache_read_input_token_cost", "cached_input"),
                      ("cache_creation_input_token_cost", "cache_write")]:
        if v.get(key) is not None:
            out[name] = per_million(v[key])
    tiers = sorted({int(m.group(1)) * 1000 for k in v
                    for m in [re.fullmatch(r"input_cost_per_token_above_(\d+)k_tokens", k)] if m})
    if tiers:
        above = tiers[0]
        k = "%dk" % (above // 1000)
        tier = {"above": above,
                "input": per_million(v["input_cost_per_token_above_%s_tokens" % k]),
                "output": per_million(v.get("output_cost_per_token_above_%s_tokens" % k, v["output_cost_per_token"]))}
        for key, name in [("cache_read_input_token_cost_above_%s_tokens" % k, "cached_input"),
                          ("cache_creation_input_token_cost_above_%s_tokens" % k, "cache_write")]:
            if v.get(key) is not None:
                tier[name] = per_million(v[key])
        out["tier"] = tier
    return out


def main(argv):
    table, source = load(argv)
    models = {}
    for provider in PROVIDERS:
        for key in sorted(table):
            v = table[key]
            if not isinstance(v, dict) or v.get("litellm_provider") != provider or v.get("mode") != "chat":
                continue
            if v.get("input_cost_per_token") is None or v.get("output_cost_per_token") is None:
                continue
            name = key.rsplit("/", 1)[-1]
            models.setdefault(name, entry(v))
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    path = os.path.join(root, "data", "prices.json")
    lines = ['{"source": %s,' % json.dumps(source),
             ' "date": %s,' % json.dumps(datetime.date.today().isoformat()),
             ' "models": {']
    names = sorted(models)
    for i, name in enumerate(names):
        comma = "," if i + 1 < len(names) else ""
        lines.append("  %s: %s%s" % (json.dumps(name), json.dumps(models[name], sort_keys=True), comma))
    lines.append("}}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("prices: %d models from %s -> %s" % (len(models), source, os.path.relpath(path)))


if __name__ == "__main__":
    main(sys.argv)
