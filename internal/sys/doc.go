// Package sys holds the operating-system shims of package mp: the small functions whose body
// differs between platforms (a system call on Linux, a portable fallback elsewhere) and that the
// root package would otherwise carry as a pair of five-line files each.
//
// Every function is plain and stateless. Where a platform lacks a feature that mp cannot do
// without (descriptor passing, Unix sockets: Windows), the function returns an error matching
// errors.ErrUnsupported; package mp wraps it so that callers see mp.ErrNotSupported. Where the
// feature is only an optimisation or a measurement (yielding the CPU, resizing a pipe, reading a
// process's memory or the cgroup CPU quota), the fallback does nothing and reports nothing.
package sys
