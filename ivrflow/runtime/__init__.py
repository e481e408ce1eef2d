"""The runtime server: live calls driven through the same machine as
`simulate` and `test`, behind each platform's callback protocol."""
