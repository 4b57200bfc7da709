package procid

// exists cannot tell on Windows, where the package's locks are not robust: it says yes.
func exists(pid int) bool { return true }
