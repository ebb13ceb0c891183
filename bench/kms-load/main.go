// A KMS load client for `npm run bench` (bench/go-kms-load.ts): GenerateDataKey+Decrypt
// pairs over the AWS JSON protocol with SigV4, as bench/kms.ts's pairOp makes them, from
// compiled code with many goroutines on keep-alive connections, so that the client is not
// what bounds a fast server. Standard library only (built offline); it talks to loopback
// only. Prints one JSON line: pairs, seconds, the client's own CPU seconds, errors.
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type client struct {
	http      *http.Client
	endpoint  string
	host      string
	accessKey string
	region    string
	mu        sync.Mutex
	day       string
	key       []byte
	secret    string
}

func hmacSHA(key []byte, s string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(s))
	return h.Sum(nil)
}

func (c *client) signingKey(day string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.day != day {
		k := hmacSHA([]byte("AWS4"+c.secret), day)
		k = hmacSHA(k, c.region)
		k = hmacSHA(k, "kms")
		c.key = hmacSHA(k, "aws4_request")
		c.day = day
	}
	return c.key
}

func (c *client) call(op string, input any, out any) error {
	body, err := json.Marshal(input)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	amzDate := now.Format("20060102T150405Z")
	day := amzDate[:8]
	target := "TrentService." + op
	payload := sha256.Sum256(body)
	canonical := "POST\n/\n\ncontent-type:application/x-amz-json-1.1\nhost:" + c.host + "\nx-amz-date:" + amzDate +
		"\nx-amz-target:" + target + "\n\ncontent-type;host;x-amz-date;x-amz-target\n" + hex.EncodeToString(payload[:])
	creq := sha256.Sum256([]byte(canonical))
	scope := day + "/" + c.region + "/kms/aws4_request"
	sts := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(creq[:])
	sig := hex.EncodeToString(hmacSHA(c.signingKey(day), sts))
	req, err := http.NewRequest("POST", c.endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Date", amzDate)
	req.Header.Set("X-Amz-Target", target)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+c.accessKey+"/"+scope+", SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="+sig)
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	text, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return err
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("%s: HTTP %d %.300s", op, res.StatusCode, text)
	}
	if out != nil {
		return json.Unmarshal(text, out)
	}
	return nil
}

type gdkOut struct {
	CiphertextBlob string
	Plaintext      string
}

type decOut struct {
	Plaintext string
}

func (c *client) pair(keyID string, i int64) error {
	ctx := map[string]string{"aws:s3:arn": "arn:aws:s3:::bench-bucket/object-" + strconv.FormatInt(i, 10)}
	var g gdkOut
	if err := c.call("GenerateDataKey", map[string]any{"KeyId": keyID, "KeySpec": "AES_256", "EncryptionContext": ctx}, &g); err != nil {
		return err
	}
	var d decOut
	if err := c.call("Decrypt", map[string]any{"CiphertextBlob": g.CiphertextBlob, "EncryptionContext": ctx}, &d); err != nil {
		return err
	}
	if d.Plaintext != g.Plaintext {
		return fmt.Errorf("Decrypt %d returned another data key", i)
	}
	return nil
}

// run makes n pairs with `conc` goroutines; the first error is kept and counted with the rest.
func (c *client) run(keyID string, n int64, conc int) (errors int64, first error) {
	var next, failed atomic.Int64
	var once sync.Once
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= n {
					return
				}
				if err := c.pair(keyID, i); err != nil {
					failed.Add(1)
					once.Do(func() { first = err })
				}
			}
		}()
	}
	wg.Wait()
	return failed.Load(), first
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func main() {
	endpoint := flag.String("endpoint", "", "http://127.0.0.1:PORT")
	keyID := flag.String("key", "", "KMS key id or ARN (empty: CreateKey first)")
	pairs := flag.Int64("pairs", 10000, "GenerateDataKey+Decrypt pairs measured")
	warmup := flag.Int64("warmup", 500, "pairs before the measured ones")
	conc := flag.Int("c", 32, "pairs in flight")
	region := flag.String("region", "us-east-1", "signing region")
	serve := flag.String("serve", "", "127.0.0.1:PORT: be a do-nothing server instead (one fixed KMS-shaped answer), to measure the client's own ceiling")
	flag.Parse()
	if *serve != "" {
		noop(*serve)
		return
	}
	u, err := url.Parse(*endpoint)
	if err != nil || u.Scheme != "http" || u.Hostname() != "127.0.0.1" {
		fmt.Fprintln(os.Stderr, "kms-load: -endpoint must be http://127.0.0.1:PORT")
		os.Exit(2)
	}
	access, secret := os.Getenv("KMS_LOAD_ACCESS_KEY_ID"), os.Getenv("KMS_LOAD_SECRET_ACCESS_KEY")
	if access == "" || secret == "" {
		fmt.Fprintln(os.Stderr, "kms-load: set KMS_LOAD_ACCESS_KEY_ID and KMS_LOAD_SECRET_ACCESS_KEY")
		os.Exit(2)
	}
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        *conc * 2,
		MaxIdleConnsPerHost: *conc * 2,
		MaxConnsPerHost:     *conc,
		DisableCompression:  true,
	}
	c := &client{http: &http.Client{Transport: transport, Timeout: 30 * time.Second}, endpoint: u.String() + "/", host: u.Host, accessKey: access, secret: secret, region: *region}
	c.endpoint = u.Scheme + "://" + u.Host + "/"
	key := *keyID
	if key == "" {
		var out struct{ KeyMetadata struct{ Arn string } }
		if err := c.call("CreateKey", map[string]any{"Description": "bench: Go KMS load client"}, &out); err != nil {
			fmt.Fprintln(os.Stderr, "kms-load: CreateKey:", err)
			os.Exit(1)
		}
		key = out.KeyMetadata.Arn
	}
	if e, first := c.run(key, *warmup, *conc); e > 0 {
		fmt.Fprintln(os.Stderr, "kms-load: warm-up failed:", first)
		os.Exit(1)
	}
	cpu0, t0 := cpuSeconds(), time.Now()
	failed, first := c.run(key, *pairs, *conc)
	seconds, cpu := time.Since(t0).Seconds(), cpuSeconds()-cpu0
	res := map[string]any{"pairs": *pairs, "seconds": seconds, "cpuSeconds": cpu, "errors": failed}
	if first != nil {
		res["firstError"] = first.Error()
	}
	line, _ := json.Marshal(res)
	fmt.Println(string(line))
}

// noop answers every request with one fixed body in which Decrypt's Plaintext equals
// GenerateDataKey's, so pairs succeed; it does nothing else.
func noop(addr string) {
	body := []byte(`{"KeyId":"k","CiphertextBlob":"AAAA","Plaintext":"AAAA"}`)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	if err := http.ListenAndServe(addr, h); err != nil {
		fmt.Fprintln(os.Stderr, "kms-load:", err)
		os.Exit(1)
	}
}
