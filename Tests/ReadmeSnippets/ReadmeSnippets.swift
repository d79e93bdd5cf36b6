// Generated from README.md's ```swift blocks by ReadmeSnippetsTests (UPDATE_README_SNIPPETS=1).
// Do not edit: change README.md and regenerate. Reader-side names live in SnippetContext.swift.
import Goroutines

func readmeSnippet1() throws {

    Go.main {                                   // goroutine 1 on the main thread; the process ends when it returns
        let jobs = Channel<Job>(capacity: 16), results = Channel<Result>()
        let wg = WaitGroup()
        for _ in 0..<4 {
            wg.go { for job in jobs { results.send(try process(job)) } }   // a thrown error is a Go panic
        }
        go { for job in pending { jobs.send(job) }; jobs.close() }
        go { wg.wait(); results.close() }
        for result in results { record(result) }  // parks the goroutine, not the thread

        let (ctx, cancel) = Context.background.withTimeout(.seconds(2))
        defer { cancel() }
        select {                                  // uniformly random among ready cases
            Receive(reply) { value in if let value { use(value) } }   // nil: reply was closed
            Receive(ctx.done) { _ in print(ctx.err!) }   // "context deadline exceeded"
        }
        Go.withLabels(["tenant": "t1"]) {         // pprof.Do: labels on this goroutine and the ones it starts
            go { handle() }
        }
        let data = try Go.blockingCall { try readFile() }   // a call that may block its thread: the P moves on
    }
}

func readmeSnippet2() throws {
    let listener = try Net.listen("tcp", "127.0.0.1:0")          // or Net.listen("unix", "/tmp/app.sock")
    go { while let conn = try? listener.accept() { go { serveConnection(conn) } } }   // waits in [IO wait]
    let conn = try Net.dial("tcp", listener.address.description, timeout: .seconds(2))
    try conn.write("PING\n")
    let replyBytes = try conn.read(upTo: 4096)                   // [] = end of stream
    try conn.setReadDeadline(.now + .seconds(5))
    try conn.closeWrite()
    try conn.close()
}
