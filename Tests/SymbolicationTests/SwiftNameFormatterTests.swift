import XCTest
@testable import Symbolication

/// The readable-name convention, checked on real mangled symbols (demangled by the Swift runtime in this
/// process) and on demangler output shapes that are awkward to produce from a test binary.
final class SwiftNameFormatterTests: XCTestCase {
    func testMangledSymbolsBecomeDeclarationNames() {
        let cases: [(String, String)] = [
            ("$s6sample6WorkerV3run3jobS2i_tF", "sample.Worker.run(job:)"),
            ("$s6sample6WorkerV3run_1bSDySSSiGSi_SStKF", "sample.Worker.run(_:b:)"),
            ("$s6sample6WorkerV4nameACSS_tcfC", "sample.Worker.init(name:)"),
            ("$s6sample4mainyyFS2icfU_", "sample.main().closure1"),
            ("$s6sample4mainyyFySiXEfU0_", "sample.main().closure2"),
            ("$s6sample4mainyyF5localL_yS2iF", "sample.main().local"),
            ("$s6sample6WorkerV4makeACyFZ", "sample.Worker.make()"),
            ("$s6sample6WorkerV4nameSSvg", "sample.Worker.name.getter"),
            ("$s6sample6WorkerV7genericyxxSQRzlF", "sample.Worker.generic<A>(_:)"),
            ("$s6sample6WorkerVyS2icig", "sample.Worker.subscript.getter"),
            ("$sSS6sampleE5shoutSSyF", "Swift.String.shout()"),
            ("$s6sample6WorkerV10asyncThingSiyYaF", "sample.Worker.asyncThing()"),
        ]
        for (mangled, expected) in cases {
            XCTAssertEqual(SwiftNameFormatter.readableName(forSymbol: mangled), expected, mangled)
        }
    }

    func testDemangledShapes() {
        let cases: [(String, String)] = [
            ("closure #1 () -> () in closure #2 (Swift.Int) -> () in M.main() -> ()",
             "M.main().closure2.closure1"),
            ("generic specialization <Swift.Int> of M.f<A>(A) -> A", "M.f<A>(_:)"),
            ("function signature specialization <Arg[0] = Dead> of M.g(x: Swift.Int) -> ()", "M.g(x:)"),
            ("merged M.h() -> ()", "M.h()"),
            ("M.Box.init(A) -> M.Box<A>", "M.Box.init(_:)"),
            ("Swift._finalizeUninitializedArray<A>(__owned [A]) -> [A]", "Swift._finalizeUninitializedArray<A>(_:)"),
            ("Swift.print(_: Any..., separator: Swift.String, terminator: Swift.String) -> ()",
             "Swift.print(_:separator:terminator:)"),
            ("M.Box.t.modify : A with unmangled suffix \".resume.0\"", "M.Box.t.modify"),
            ("M.f(g: (Swift.Int, Swift.String) -> Swift.Bool, h: [Swift.String : Swift.Int]) throws(M.E) -> (Swift.Int, Swift.Int)",
             "M.f(g:h:)"),
            ("partial apply for closure #1 (Swift.Int) -> () in M.run() async -> ()",
             "M.run().closure1"),
            ("(1) suspend resume partial function for M.Worker.work() async throws -> Swift.Int",
             "(1)suspend_resume_partial_function_for_M.Worker.work()"),
            ("protocol witness for Swift.Sequence.makeIterator() -> A.Iterator in conformance M.Bag : Swift.Sequence in M",
             "M.Bag.makeIterator()"),
            ("lazy protocol witness table accessor for type [Swift.Int] and conformance [A] : Swift.Sequence in Swift",
             "[Swift.Int].lazyProtocolWitnessTableAccessor"),
            ("static Swift.Int.< infix(Swift.Int, Swift.Int) -> Swift.Bool", "Swift.Int.<infix(_:_:)"),
            ("type metadata accessor for M.Worker", "M.Worker.typeMetadataAccessor"),
            ("Swift.(_stringCompareSlow in _835F230159459CFFE280B5F8E69D8077)(_: Swift._StringGuts, _: Swift._StringGuts, expecting: Swift._StringComparisonResult) -> Swift.Bool",
             "Swift._stringCompareSlow(_:_:expecting:)"),
            ("closure #1 in Swift._StringGuts.(_convertedToSmall in _408A76AB043BD3EFBAB6FAAAAA9B4914)() -> Swift._SmallString",
             "Swift._StringGuts._convertedToSmall().closure1"),
            ("reabstraction thunk helper <A> from @escaping @callee_guaranteed (@in_guaranteed A) -> (@out A) to @escaping @callee_guaranteed (@guaranteed A) -> (@owned A)",
             "thunk"),
            ("function signature specialization <Arg[0] = [Closure Propagated : $sSS1fyyFyyXEfU_, Argument Types : []> of generic specialization <Swift.Range<Swift.Int>, Swift.String, Swift.Never> of Swift.Collection.map<A, B>((A.Element) throws(B) -> A1) throws(B) -> [A1]",
             "Swift.Collection.map<A,B>(_:)"),
        ]
        for (demangled, expected) in cases {
            XCTAssertEqual(GoStyleName.rewrite(SwiftNameFormatter.simplify(demangled)), expected, demangled)
        }
    }

    /// The one naming scheme (DESIGN.md rule 9) on the shapes the demangler gives for closures, witnesses,
    /// statics, thunks, defers and generics: one token each, never a space.
    func testGoStyleNamesForNestedCodeWitnessesAndThunks() {
        let cases: [(String, String)] = [
            ("closure #1 (Swift.Int) -> Swift.Int in static M.Workloads.startAll(_: M.Settings) -> ()",
             "M.Workloads.startAll(_:).closure1"),
            ("closure #1 () -> () in closure #7 () -> () in static M.Workloads.startAll(_: M.Settings) -> ()",
             "M.Workloads.startAll(_:).closure7.closure1"),
            ("partial apply forwarder for closure #3 () -> () in static M.Workloads.startAll(_: M.Settings) -> ()",
             "M.Workloads.startAll(_:).closure3"),
            ("protocol witness for static M.Shape.make() -> A in conformance M.Square : M.Shape in M",
             "M.Square.make()"),
            ("protocol witness for M.Shape.area.getter : Swift.Int in conformance M.Square : M.Shape in M",
             "M.Square.area.getter"),
            ("implicit closure #2 () -> Swift.String in M.log(_: Swift.String) -> ()", "M.log(_:).implicitclosure2"),
            ("$defer #1 () -> () in Goroutines.Locker.withLock<A>(_: () throws -> A) throws -> A",
             "Goroutines.Locker.withLock<A>(_:).defer1"),
            ("helper #2 (Swift.Int) -> Swift.Int in M.main() -> ()", "M.main().helper_2"),
            ("@objc closure #1 (Swift.OpaquePointer?) -> () in variable initialization expression of Goroutines.goroutineEntry",
             "Goroutines.goroutineEntry.init.closure1"),
            ("outlined destroy of [Swift.Int]", "[Swift.Int].outlinedDestroy"),
            ("M.Cache.get<A, B>(key: A) -> B?", "M.Cache.get<A,B>(key:)"),
            ("dispatch thunk of M.Service.handle(request: M.Request) -> ()", "M.Service.handle(request:)"),
        ]
        for (demangled, expected) in cases {
            let name = GoStyleName.rewrite(SwiftNameFormatter.simplify(demangled))
            XCTAssertEqual(name, expected, demangled)
            XCTAssertFalse(name.contains(" "), name)
        }
    }

    /// Thunks are told apart once per symbol, so stacks can drop them without looking at names again.
    func testFrameKindsComeWithTheName() {
        XCTAssertEqual(SwiftNameFormatter.describe(symbol: "$s6sample4mainyyFS2icfU_").kind, .code)
        XCTAssertEqual(SwiftNameFormatter.describe(symbol: "$s6sample4mainyyFS2icfU_TA").kind, .thunk)
        XCTAssertEqual(SwiftNameFormatter.describe(symbol: "$s6sample4mainyyFS2icfU_TA").name, "sample.main().closure1")
        XCTAssertEqual(SwiftNameFormatter.describe(symbol: "gr_goroutine_trampoline").kind, .goroutineRoot)
        XCTAssertEqual(SwiftNameFormatter.describe(symbol: "gr_context_switch").kind, .runtime)
        XCTAssertEqual(SwiftNameFormatter.describe(symbol: "malloc").kind, .code)
    }

    func testCAndCxxSymbolsStayReadable() {
        XCTAssertEqual(SwiftNameFormatter.readableName(forSymbol: "malloc"), "malloc")
        XCTAssertEqual(SwiftNameFormatter.readableName(forSymbol: "__libc_start_call_main"), "__libc_start_call_main")
        XCTAssertEqual(SwiftNameFormatter.readableName(forSymbol: "_ZN5swift10fatalErrorEjPKcz"),
                       "swift::fatalError(unsignedint,charconst*,...)")
        // Not valid Swift mangling: returned unchanged rather than guessed at.
        XCTAssertEqual(SwiftNameFormatter.readableName(forSymbol: "$sGarbage!!"), "$sGarbage!!")
    }
}
