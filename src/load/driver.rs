//! Running a loading sequence one request at a time.
//!
//! The sequence is written as plain `async` Rust ([`super::models`]); each time it needs bytes
//! it awaits [`Link::ask`], which parks the request and suspends. [`Loader::next`] polls the
//! sequence until it either finishes or parks a request, and hands that request out;
//! [`Loader::answer`] puts the transport's reply where the suspended `ask` finds it. So the
//! loader owns the whole order of requests (tested natively with a file-system transport) and
//! a transport is a loop: `while let Some(r) = loader.next()? { loader.answer(serve(r)?)? }`.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::load::request::{Request, Response};

/// How far the weights have come, for progress bars.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Progress {
    /// Weight bytes received.
    pub done: u64,
    /// Weight bytes to receive, as planned from the headers opened so far.
    pub total: u64,
    /// The file being received.
    pub file: String,
}

#[derive(Default)]
struct Slot {
    asked: Option<Request>,
    answer: Option<Response>,
    progress: Progress,
}

/// The sequence's side of the exchange.
#[derive(Clone, Default)]
pub struct Link(Rc<RefCell<Slot>>);

impl Link {
    /// Asks the transport for `request` and waits for the answer.
    pub fn ask(&self, request: Request) -> impl Future<Output = Response> + '_ {
        Ask { link: self, request: Some(request) }
    }

    /// Records planned weight bytes.
    pub fn plan(&self, bytes: u64) {
        self.0.borrow_mut().progress.total += bytes;
    }

    /// Records received weight bytes of `file`.
    pub fn received(&self, bytes: u64, file: &str) {
        let p = &mut self.0.borrow_mut().progress;
        p.done += bytes;
        if p.file != file {
            p.file = file.to_string();
        }
    }
}

struct Ask<'a> {
    link: &'a Link,
    request: Option<Request>,
}

impl Future for Ask<'_> {
    type Output = Response;

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Response> {
        let mut slot = self.link.0.borrow_mut();
        if let Some(r) = self.request.take() {
            slot.asked = Some(r);
            return Poll::Pending;
        }
        match slot.answer.take() {
            Some(a) => Poll::Ready(a),
            None => Poll::Pending,
        }
    }
}

/// A loading sequence driven by requests; `T` is what it makes.
pub struct Loader<'a, T> {
    link: Link,
    task: Option<Pin<Box<dyn Future<Output = Result<T>> + 'a>>>,
    outcome: Option<Result<T>>,
    outstanding: Option<Request>,
}

impl<'a, T> Loader<'a, T> {
    /// Wraps a sequence; `start` gets the link it asks through.
    pub fn new<F: Future<Output = Result<T>> + 'a>(start: impl FnOnce(Link) -> F) -> Self {
        let link = Link::default();
        let task: Pin<Box<dyn Future<Output = Result<T>> + 'a>> = Box::pin(start(link.clone()));
        Self { link, task: Some(task), outcome: None, outstanding: None }
    }

    /// The next request to answer, or `None` when the sequence has ended (then call
    /// [`Self::finish`]). Asking again before answering returns the same request. An error
    /// the sequence ends with is returned here.
    #[allow(clippy::should_implement_trait)] // not an iterator: an answer must come between two calls
    pub fn next(&mut self) -> Result<Option<Request>> {
        if let Some(r) = &self.outstanding {
            return Ok(Some(r.clone()));
        }
        let Some(task) = self.task.as_mut() else {
            return match &self.outcome {
                Some(Err(e)) => Err(Error::Internal(format!("the load failed before: {e}"))),
                _ => Ok(None),
            };
        };
        match task.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(v)) => {
                self.task = None;
                self.outcome = Some(Ok(v));
                Ok(None)
            }
            Poll::Ready(Err(e)) => {
                // The caller gets the error itself; finish() then only says that the load failed.
                self.task = None;
                self.outcome = Some(Err(Error::Internal(format!("the load failed: {e}"))));
                Err(e)
            }
            Poll::Pending => {
                let asked = self.link.0.borrow_mut().asked.take();
                let r = asked.ok_or_else(|| Error::Internal("the loader waited without asking for anything".into()))?;
                self.outstanding = Some(r.clone());
                Ok(Some(r))
            }
        }
    }

    /// Answers the request [`Self::next`] returned.
    pub fn answer(&mut self, response: Response) -> Result<()> {
        if self.outstanding.take().is_none() {
            return Err(Error::Internal("an answer came with no request outstanding".into()));
        }
        self.link.0.borrow_mut().answer = Some(response);
        Ok(())
    }

    /// Progress of the weights.
    pub fn progress(&self) -> Progress {
        self.link.0.borrow().progress.clone()
    }

    /// What the sequence made, once [`Self::next`] returned `None`.
    pub fn finish(self) -> Result<T> {
        match self.outcome {
            Some(r) => r,
            None => Err(Error::Internal("the load is not finished: requests are still outstanding".into())),
        }
    }
}
