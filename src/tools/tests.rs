use super::*;
use pretty_assertions::assert_eq;

fn ws() -> (tempfile::TempDir, Workspace) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::write(
        dir.path().join("src/app.py"),
        "def greet(name):\n    return 'hi ' + name\n\n\ndef main():\n    print(greet('x'))\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("blob.bin"), [1u8, 0, 2]).unwrap();
    let w = Workspace::new(dir.path()).unwrap();
    (dir, w)
}

fn run(w: &Workspace, set: ToolSet, name: &str, args: serde_json::Value) -> Action {
    dispatch(w, set, name, &args.to_string())
}

#[test]
fn read_list_grep_outline() {
    let (_d, w) = ws();
    let out = run(
        &w,
        ToolSet::Executor,
        "read_file",
        serde_json::json!({"path": "src/app.py", "start_line": 5}),
    );
    assert_eq!(
        out,
        Action::Output(
            "src/app.py (lines 5-6 of 6)\n    5| def main():\n    6|     print(greet('x'))\n"
                .into()
        )
    );
    assert_eq!(
        run(
            &w,
            ToolSet::Planner,
            "list_dir",
            serde_json::json!({"path": "."})
        ),
        Action::Output("blob.bin\nsrc/".into())
    );
    // Listing a file answers with its content, not an error a small model cannot act on.
    let Action::Output(listed) = run(
        &w,
        ToolSet::Planner,
        "list_dir",
        serde_json::json!({"path": "src/app.py"}),
    ) else {
        panic!("listing a file is answered");
    };
    assert!(
        listed.starts_with("src/app.py is a file, not a directory; its content:\nsrc/app.py")
            && listed.contains("    1| def greet(name):"),
        "{listed}"
    );
    assert_eq!(
        run(
            &w,
            ToolSet::Planner,
            "grep",
            serde_json::json!({"pattern": "greet\\("})
        ),
        Action::Output(
            "src/app.py:1: def greet(name):\nsrc/app.py:6:     print(greet('x'))".into()
        )
    );
    let Action::Output(outline) = run(
        &w,
        ToolSet::Planner,
        "outline",
        serde_json::json!({"path": "src/app.py"}),
    ) else {
        panic!()
    };
    assert!(
        outline.contains("    1: def greet(name): [function]")
            && outline.contains("    5: def main(): [function]"),
        "{outline}"
    );
    assert_eq!(
        run(
            &w,
            ToolSet::Planner,
            "read_file",
            serde_json::json!({"path": "blob.bin"})
        ),
        Action::Failed("blob.bin is a binary file".into())
    );
}

#[test]
fn grep_skips_binary_and_non_utf8_files_honours_gitignore_and_stops_at_the_cap() {
    let (d, w) = ws();
    let root = d.path();
    std::fs::write(root.join("bin.dat"), b"needle\0\x01\x02").unwrap();
    std::fs::write(root.join("latin1.txt"), b"needle caf\xe9\n").unwrap();
    std::fs::write(root.join(".gitignore"), "ignored/\n").unwrap();
    std::fs::create_dir_all(root.join("ignored")).unwrap();
    std::fs::write(root.join("ignored/x.txt"), "needle\n").unwrap();
    std::fs::write(root.join("a.txt"), "x\nneedle one\n^needle anchored\n").unwrap();
    let grep = |pattern: &str| match run(
        &w,
        ToolSet::Executor,
        "grep",
        serde_json::json!({ "pattern": pattern }),
    ) {
        Action::Output(text) => text,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        grep("needle"),
        "a.txt:2: needle one\na.txt:3: ^needle anchored"
    );
    assert_eq!(grep("^needle"), "a.txt:2: needle one");
    // Many files, many matches: the first MAX_MATCHES in path order, then a note.
    for i in 0..150 {
        std::fs::write(root.join(format!("m{i:03}.txt")), "hit\n").unwrap();
    }
    let text = grep("hit");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), crate::tools::fs::MAX_MATCHES + 1);
    assert_eq!(lines[0], "m000.txt:1: hit");
    assert!(lines.last().unwrap().starts_with("… stopped at"), "{text}");
    assert_eq!(grep("hit"), text, "the same answer every time");
}

#[test]
fn grep_answers_in_path_order_every_time() {
    let (d, w) = ws();
    for path in [
        "zeta.txt",
        "alpha.txt",
        "mid/beta.txt",
        "mid/aardvark.txt",
        "b.txt",
    ] {
        let p = d.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "needle\n").unwrap();
    }
    let Action::Output(text) = run(
        &w,
        ToolSet::Executor,
        "grep",
        serde_json::json!({"pattern": "needle"}),
    ) else {
        panic!()
    };
    let paths: Vec<&str> = text.lines().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "alpha.txt",
            "b.txt",
            "mid/aardvark.txt",
            "mid/beta.txt",
            "zeta.txt"
        ]
    );
}

#[test]
fn edits_and_new_files_become_proposals() {
    let (_d, w) = ws();
    let out = run(
        &w,
        ToolSet::Executor,
        "edit",
        serde_json::json!({"path": "src/app.py", "search": "'hi '", "replace": "'hello '"}),
    );
    let Action::Propose { path, old, new } = out else {
        panic!("{out:?}")
    };
    assert_eq!(path, "src/app.py");
    assert!(old.unwrap().contains("'hi '") && new.contains("'hello '"));
    let out = run(
        &w,
        ToolSet::Executor,
        "write_file",
        serde_json::json!({"path": "src/new.py", "content": "x = 1\n"}),
    );
    assert_eq!(
        out,
        Action::Propose {
            path: "src/new.py".into(),
            old: None,
            new: "x = 1\n".into()
        }
    );
}

#[test]
fn mistakes_are_explained_not_panicked() {
    let (_d, w) = ws();
    let wrong = run(
        &w,
        ToolSet::Executor,
        "edit",
        serde_json::json!({"path": "src/app.py", "search": "def greet(nme):\n    return 'hi' + nme", "replace": "x"}),
    );
    let Action::Failed(msg) = wrong else {
        panic!("{wrong:?}")
    };
    assert!(
        msg.starts_with(
            "edit of src/app.py not applied: the search text was not found. The closest lines"
        ),
        "{msg}"
    );
    assert!(msg.contains("    1| def greet(name):"), "{msg}");
    assert!(
        matches!(run(&w, ToolSet::Executor, "write_file", serde_json::json!({"path": "src/app.py", "content": ""})), Action::Failed(m) if m.contains("already exists"))
    );
    assert!(
        matches!(run(&w, ToolSet::Executor, "edit", serde_json::json!({"path": "../x", "search": "a", "replace": "b"})), Action::Failed(m) if m.contains("outside the workspace"))
    );
    assert!(
        matches!(run(&w, ToolSet::Executor, "write_file", serde_json::json!({"path": ".git/hooks/post-commit", "content": "x"})), Action::Failed(m) if m.contains("protected"))
    );
    assert!(
        matches!(dispatch(&w, ToolSet::Executor, "read_file", "{not json"), Action::Failed(m) if m.starts_with("bad arguments for read_file"))
    );
    assert!(
        matches!(run(&w, ToolSet::Planner, "edit", serde_json::json!({})), Action::Failed(m) if m.contains("no tool `edit` here"))
    );
    assert!(matches!(
        run(&w, ToolSet::Executor, "teleport", serde_json::json!({})),
        Action::Failed(_)
    ));
}

#[test]
fn ending_steps_and_submitting_plans() {
    let (_d, w) = ws();
    assert_eq!(
        run(
            &w,
            ToolSet::Executor,
            "step_done",
            serde_json::json!({"summary": "greet says hello"})
        ),
        Action::Finish {
            status: StepStatus::Done,
            summary: "greet says hello".into()
        }
    );
    let plan = serde_json::json!({"summary": "s", "steps": [{"id": 1, "goal": "g", "files": [], "done_when": "d"}]});
    assert!(
        matches!(run(&w, ToolSet::Planner, "submit_plan", plan), Action::SubmitPlan(p) if p.steps.len() == 1)
    );
    assert!(matches!(
        run(
            &w,
            ToolSet::Planner,
            "submit_plan",
            serde_json::json!({"summary": "s", "steps": []})
        ),
        Action::Failed(_)
    ));
    assert_eq!(
        run(
            &w,
            ToolSet::Executor,
            "run",
            serde_json::json!({"command": "ls"})
        ),
        Action::Run("ls".into())
    );
}

#[test]
fn an_edit_whose_search_and_replace_are_the_same_is_refused_with_what_to_do() {
    let (_d, w) = ws();
    for search in ["return 'hi ' + name", "text that is not in the file"] {
        let out = run(
            &w,
            ToolSet::Executor,
            "edit",
            serde_json::json!({"path": "src/app.py", "search": search, "replace": search}),
        );
        assert!(
            matches!(&out, Action::Failed(m) if m.contains("are the same text") && m.contains("put the new code in `replace`")),
            "{out:?}"
        );
    }
}

#[test]
fn write_file_over_an_existing_file_replaces_the_definition_it_starts_with() {
    let (_d, w) = ws();
    let out = run(
        &w,
        ToolSet::Executor,
        "write_file",
        serde_json::json!({"path": "src/app.py", "content": "def greet(name):\n    return 'hello ' + name\n"}),
    );
    let Action::Propose { path, old, new } = out else {
        panic!("{out:?}")
    };
    assert_eq!(path, "src/app.py");
    assert!(old.is_some());
    assert_eq!(
        new,
        "def greet(name):\n    return 'hello ' + name\n\n\ndef main():\n    print(greet('x'))\n"
    );
    // Content that is neither the whole file nor a definition in it is refused, saying what would work.
    let out = run(
        &w,
        ToolSet::Executor,
        "write_file",
        serde_json::json!({"path": "src/app.py", "content": "print('x')"}),
    );
    assert!(
        matches!(&out, Action::Failed(m) if m.contains("neither the whole file") && m.contains("edit")),
        "{out:?}"
    );
}

#[test]
fn a_looking_tool_run_as_a_command_is_answered_as_the_tool() {
    let (_d, w) = ws();
    let out = run(
        &w,
        ToolSet::Executor,
        "run",
        serde_json::json!({"command": "read_file src/app.py"}),
    );
    assert!(
        matches!(&out, Action::Output(t) if t.starts_with("`read_file` is one of your tools") && t.contains("    1| def greet(name):")),
        "{out:?}"
    );
    let out = run(
        &w,
        ToolSet::Executor,
        "run",
        serde_json::json!({"command": "list_dir"}),
    );
    assert!(
        matches!(&out, Action::Output(t) if t.contains("src/")),
        "{out:?}"
    );
    // Real commands, and tool names with more arguments, stay commands.
    for command in ["cat src/app.py", "read_file a b", "grep greet src/app.py"] {
        let out = run(
            &w,
            ToolSet::Executor,
            "run",
            serde_json::json!({ "command": command }),
        );
        assert_eq!(out, Action::Run(command.to_string()));
    }
}

/// The schemas models see are derived from the types their arguments are read into. What each tool looks like
/// to a model is kept as a snapshot (a changed field, limit or description shows in review), and every tool's
/// schema is one a model can be held to: no unknown fields, every required field a property, every schema one
/// llama.cpp turns into a grammar, and arguments that match it read into the type.
#[test]
fn every_tool_schema_is_derived_from_its_arguments_type() {
    let mut shown = serde_json::Map::new();
    for set in [ToolSet::Planner, ToolSet::Executor] {
        for spec in crate::tools::specs(set) {
            let p = &spec.parameters;
            assert_eq!(p["type"], "object", "{}", spec.name);
            assert_eq!(p["additionalProperties"], false, "{}", spec.name);
            for required in p["required"].as_array().into_iter().flatten() {
                let name = required.as_str().unwrap();
                assert!(p["properties"].get(name).is_some(), "{}: {name}", spec.name);
            }
            let text = p.to_string();
            for meta in ["$schema", "\"title\"", "\"format\"", "\"null\"", "$ref"] {
                assert!(!text.contains(meta), "{}: {meta} in {text}", spec.name);
            }
            crate::model::local::grammar_text(&crate::model::local::Constraint::JsonSchema(
                p.clone(),
            ))
            .unwrap_or_else(|e| panic!("{}: {e}", spec.name));
            shown.insert(spec.name.clone(), p.clone());
        }
    }
    insta::assert_snapshot!(
        "tool_schemas",
        serde_json::to_string_pretty(&serde_json::Value::Object(shown.clone())).unwrap()
    );
    // The optional fields are not required, the defaulted one of a step is, and the limits are the types'.
    let read = &shown["read_file"];
    assert_eq!(read["required"], serde_json::json!(["path"]));
    assert_eq!(read["properties"]["start_line"]["minimum"], 1);
    let step = &shown["submit_plan"]["properties"]["steps"]["items"];
    assert!(
        step["required"]
            .as_array()
            .unwrap()
            .contains(&"changes_tests".into())
    );
    assert_eq!(step["properties"]["goal"]["x-non-blank"], true);
    assert_eq!(shown["submit_plan"]["properties"]["steps"]["maxItems"], 10);
}
