package knowledge_test

import "os"

func removeDir(dir string) error { return os.RemoveAll(dir) }
