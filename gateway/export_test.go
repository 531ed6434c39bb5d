package gateway

// SnakeCase exposes the event naming of class-based namespaces to tests.
var SnakeCase = snakeCase
