module github.com/mp-go/mp

go 1.26.0

require (
	github.com/fxamacker/cbor/v2 v2.10.0
	go.uber.org/goleak v1.3.0
	golang.org/x/sys v0.49.0
)

require github.com/x448/float16 v0.8.4 // indirect
