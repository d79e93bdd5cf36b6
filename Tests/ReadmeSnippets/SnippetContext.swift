// The names README.md's Swift snippets use without declaring them (the reader's own types and
// functions), so the extracted snippets (ReadmeSnippets.swift) type-check against the real API.
// Add a declaration here when a new README snippet refers to something of the reader's.
import Goroutines

struct Job: Sendable {}
struct Result: Sendable {}
func process(_ job: Job) throws -> Result { Result() }
let pending: [Job] = []
func record(_ result: Result) {}
let reply = Channel<Int>()
func use(_ value: Int) {}
func handle() {}
func readFile() throws -> [UInt8] { [] }
func serveConnection(_ conn: Conn) {}
