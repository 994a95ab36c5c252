import Testing

@Test func placeholderIntegrationTests() { #expect(true) }
