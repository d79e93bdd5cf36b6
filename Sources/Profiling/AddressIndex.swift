// A map from non-zero addresses to dense ids, for the builder's hottest loop (one lookup per frame of
// every sample). Open addressing with linear probing and Fibonacci hashing: addresses are already
// well-spread integers, so this avoids the cost of the standard library's seeded SipHash per lookup.
struct AddressIndex {
    private var keys: [UInt]
    private var values: [UInt64]
    private var shift: UInt
    private(set) var count = 0

    init(capacity: Int = 64) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = [UInt](repeating: 0, count: size)
        values = [UInt64](repeating: 0, count: size)
        shift = UInt(UInt.bitWidth - size.trailingZeroBitCount)
    }

    /// The id stored for `address` (which must not be 0), inserting `makeID()` when absent.
    @inline(__always)
    mutating func id(for address: UInt, orInsert makeID: () -> UInt64) -> UInt64 {
        let mask = keys.count - 1
        var slot = Int(truncatingIfNeeded: (address &* 0x9E37_79B9_7F4A_7C15) >> shift)
        while true {
            let key = keys[slot]
            if key == address { return values[slot] }
            if key == 0 { break }
            slot = (slot + 1) & mask
        }
        let id = makeID()
        keys[slot] = address
        values[slot] = id
        count += 1
        if count * 2 > keys.count { grow() }
        return id
    }

    private mutating func grow() {
        let oldKeys = keys, oldValues = values
        let size = keys.count * 2
        keys = [UInt](repeating: 0, count: size)
        values = [UInt64](repeating: 0, count: size)
        shift -= 1
        let mask = size - 1
        for (index, key) in oldKeys.enumerated() where key != 0 {
            var slot = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
            while keys[slot] != 0 { slot = (slot + 1) & mask }
            keys[slot] = key
            values[slot] = oldValues[index]
        }
    }
}
