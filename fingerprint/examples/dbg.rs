fn main() { std::thread::Builder::new().stack_size(2<<20).spawn(real).unwrap().join().unwrap(); }
fn real() {
    let which: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let opens = ["(", "[", "/*", "values (", "array[", "in (", "case when "];
    let sql = if which < 7 { format!("select {}", opens[which].repeat(20_000)) } else { format!("select {}1{}", "(".repeat(3000), ")".repeat(3000)) };
    let part = std::env::args().nth(2).unwrap();
    match part.as_str() {
        "fp" => { pgscope_fingerprint::fingerprint(&sql); }
        "an" => { pgscope_fingerprint::analyze(&sql); }
        _ => {}
    }
    println!("ok");
}
