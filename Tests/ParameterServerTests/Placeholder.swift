import Testing

@Test func placeholderParameterServerTests() { #expect(true) }
