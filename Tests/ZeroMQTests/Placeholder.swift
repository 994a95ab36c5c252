import Testing

@Test func placeholderZeroMQTests() { #expect(true) }
