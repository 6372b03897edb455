//! `greet NAME...`: prints a greeting for each name.

fn greeting(name: &str) -> String {
    format!("Hello, {name}!")
}

fn main() {
    let names: Vec<String> = std::env::args().skip(1).collect();
    if names.is_empty() {
        eprintln!("usage: greet NAME...");
        std::process::exit(2);
    }
    for name in &names {
        println!("{}", greeting(name));
    }
}
