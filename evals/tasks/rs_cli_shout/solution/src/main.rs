//! `greet [--shout] NAME...`: prints a greeting for each name.

fn greeting(name: &str, shout: bool) -> String {
    if shout {
        format!("HELLO, {}!!!", name.to_uppercase())
    } else {
        format!("Hello, {name}!")
    }
}

fn main() {
    let mut shout = false;
    let mut names = Vec::new();
    for arg in std::env::args().skip(1) {
        if arg == "--shout" {
            shout = true;
        } else {
            names.push(arg);
        }
    }
    if names.is_empty() {
        eprintln!("usage: greet [--shout] NAME...");
        std::process::exit(2);
    }
    for name in &names {
        println!("{}", greeting(name, shout));
    }
}
