use std::process::Command;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_greet")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn plain() {
    assert_eq!(run(&["ada"]), (true, "Hello, ada!\n".to_string()));
    assert_eq!(run(&["ada", "bo"]), (true, "Hello, ada!\nHello, bo!\n".to_string()));
}

#[test]
fn shout() {
    assert_eq!(run(&["--shout", "ada"]), (true, "HELLO, ADA!!!\n".to_string()));
    assert_eq!(run(&["ada", "--shout", "bo"]), (true, "HELLO, ADA!!!\nHELLO, BO!!!\n".to_string()));
}

#[test]
fn no_names() {
    assert!(!run(&[]).0);
    assert!(!run(&["--shout"]).0);
}
