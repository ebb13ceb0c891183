module coffer.local/kms-load

go 1.21
