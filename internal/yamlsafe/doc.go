// Package yamlsafe decodes YAML that may be hostile: a descriptor from
// an addon author, berth.yaml, a services file. Before the YAML library
// sees the data it checks the size, the nesting depth, the aliases and
// the nodes the data would expand to, and it turns a panic of the library
// into an error, so that no input can hang, exhaust or crash berth.
//
// It must not know what the YAML means: callers decode into their own
// types and report errors with their own file and field names.
package yamlsafe
