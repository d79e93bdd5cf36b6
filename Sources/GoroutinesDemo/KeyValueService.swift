import Goroutines

/// A line-based key/value service on goroutine sockets, one handler goroutine per connection:
///
///     SET <key> <value>   -> OK
///     GET <key>           -> VALUE <value> | NOT_FOUND
///     DEL <key>           -> DELETED | NOT_FOUND
///     PING                -> PONG
///     QUIT                -> BYE, then the server closes the connection
///
/// Try it: `printf 'SET a 1\nGET a\nQUIT\n' | nc 127.0.0.1 <port>`. Handlers waiting for a request sit in
/// `[IO wait]` with their own frames (`KeyValueService.serve(_:)`, `LineReader.readLine()`).
final class KeyValueService: Sendable {
    private let store = KeyValueStore()
    let listener: Listener

    init(listener: Listener) { self.listener = listener }

    /// Accepts until the listener is closed.
    func run() {
        while true {
            do throws(NetError) {
                let conn = try listener.accept()
                go { self.serve(conn) }
            } catch where error.kind == .closed {
                return
            } catch {
                Go.sleep(for: .milliseconds(10))   // out of file descriptors, say: try again shortly
            }
        }
    }

    @inline(never) func serve(_ conn: Conn) {
        defer { try? conn.close() }
        let reader = LineReader(conn)
        do throws(NetError) {
            while let line = try reader.readLine() {
                let (reply, done) = respond(to: line)
                try conn.write(reply + "\n")
                if done { return }
            }
        } catch {
            // A client that resets or vanishes ends its handler; the service goes on.
        }
    }

    @inline(never) func respond(to line: Substring) -> (String, done: Bool) {
        let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        switch (parts.first?.uppercased(), parts.count) {
        case ("SET", 3):
            store.set(String(parts[1]), String(parts[2]))
            return ("OK", false)
        case ("GET", 2):
            return (store.get(String(parts[1])).map { "VALUE \($0)" } ?? "NOT_FOUND", false)
        case ("DEL", 2):
            return (store.delete(String(parts[1])) ? "DELETED" : "NOT_FOUND", false)
        case ("PING", 1):
            return ("PONG", false)
        case ("QUIT", 1):
            return ("BYE", true)
        default:
            return ("ERR unknown command", false)
        }
    }
}

/// The service's data, behind a goroutine mutex.
final class KeyValueStore: @unchecked Sendable {
    private let lock = GoMutex()
    private var values: [String: String] = [:]

    func set(_ key: String, _ value: String) { lock.withLock { values[key] = value } }
    func get(_ key: String) -> String? { lock.withLock { values[key] } }
    func delete(_ key: String) -> Bool { lock.withLock { values.removeValue(forKey: key) != nil } }
}

/// Splits a connection's bytes into lines ("\n", with an optional "\r" before it).
final class LineReader {
    private let conn: Conn
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false

    init(_ conn: Conn) { self.conn = conn }

    /// The next line without its terminator; nil at end of stream (a final unterminated line is returned).
    @inline(never) func readLine() throws(NetError) -> Substring? {
        while true {
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                var end = newline
                if end > start && buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                let line = String(decoding: buffer[start..<end], as: UTF8.self)
                start = newline + 1
                return line[...]
            }
            if atEnd {
                if start == buffer.count { return nil }
                let line = String(decoding: buffer[start...], as: UTF8.self)
                start = buffer.count
                return line[...]
            }
            if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            let chunk = try conn.read(upTo: 4096)
            if chunk.isEmpty { atEnd = true } else { buffer += chunk }
        }
    }
}

/// Clients of the key/value service on goroutines: some connections stay idle (their handlers wait in
/// `[IO wait]`), others send a steady stream of requests (network work in the CPU and block profiles).
enum KeyValueClients {
    static func start(address: String, idle: Int, busy: Int) {
        for i in 0..<idle {
            go { idleClient(address: address, id: i) }
        }
        for i in 0..<busy {
            go { busyClient(address: address, id: i) }
        }
    }

    /// Connects, says PING once, then keeps the connection open without a word (reconnecting if dropped).
    @inline(never) static func idleClient(address: String, id: Int) {
        while true {
            if let conn = try? Net.dial("tcp", address, timeout: .seconds(5)) {
                let reader = LineReader(conn)
                _ = try? conn.write("PING\n")
                _ = try? reader.readLine()
                _ = try? reader.readLine()   // never answered: waits in IO wait until the server goes away
                try? conn.close()
            }
            Go.sleep(for: .seconds(1))
        }
    }

    /// Sets and reads back keys in bursts, pausing between bursts.
    @inline(never) static func busyClient(address: String, id: Int) {
        while true {
            guard let conn = try? Net.dial("tcp", address, timeout: .seconds(5)) else {
                Go.sleep(for: .seconds(1))
                continue
            }
            let reader = LineReader(conn)
            var round = 0
            do throws(NetError) {
                while true {
                    for k in 0..<50 {
                        let key = "client\(id)-key\(k)"
                        try conn.write("SET \(key) \(round &* 31 &+ k)\nGET \(key)\n")
                        _ = try reader.readLine()
                        _ = try reader.readLine()
                    }
                    round &+= 1
                    Go.sleep(for: .milliseconds(10))
                }
            } catch {
                try? conn.close()
                Go.sleep(for: .seconds(1))
            }
        }
    }
}
