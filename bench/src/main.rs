//! l2tpx-bench: see `l2tpx-bench --help` and docs/bench.md.

#[global_allocator]
static ALLOC: l2tpx_bench::alloc::Counting = l2tpx_bench::alloc::Counting;

fn main() -> std::process::ExitCode {
    l2tpx_bench::cli::main()
}
