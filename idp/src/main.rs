fn main() {
    eprintln!("the IdP is not built yet");
    std::process::exit(2)
}
