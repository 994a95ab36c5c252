import Testing

@Test func placeholderSparseLRTests() { #expect(true) }
