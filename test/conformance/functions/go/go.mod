module example.com/conformance

go 1.19

require github.com/tencentyun/scf-go-lib v0.0.0

replace github.com/tencentyun/scf-go-lib => ../../../fixtures/go/scf-go-lib
