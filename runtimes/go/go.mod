module updraft.dev/runtimes/go

go 1.19
