/// A reference the scheduler does not count. Gs, Ms and Ps live for the whole process (Gs are reused,
/// never freed), so the links between them need no retain/release on the scheduling hot path, where
/// reference counting would otherwise cost more than the context switch itself.
@propertyWrapper
struct Unretained<T: AnyObject> {
    private var ref: Unmanaged<T>?

    init(wrappedValue: T?) {
        ref = wrappedValue.map { Unmanaged.passUnretained($0) }
    }

    var wrappedValue: T? {
        @inline(__always) get { ref?.takeUnretainedValue() }
        @inline(__always) set { ref = newValue.map { Unmanaged.passUnretained($0) } }
    }
}
