mod cli;
mod engine;
mod support;
